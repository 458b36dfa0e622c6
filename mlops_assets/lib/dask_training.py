"""The global XGBoost model's fits on a Dask cluster (`MLOPS_TRAINING_CLUSTER`): the same design
matrix, label and parameters as `forecasting.fit` / `forecasting.refit`, trained by
`xgboost.dask` across the cluster's workers. What comes back is an ordinary `xgboost.Booster`,
so storing, loading and scoring do not know where it was trained.

The design matrix is built here, in the run's process, and its row blocks are scattered to the
workers: a worker needs xgboost, dask and distributed at this process's versions, not this
package. distributed, dask and xgboost are imported inside the functions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlops_assets.lib import forecasting as fc

if TYPE_CHECKING:
    import xgboost as xgb
    from dask.array import Array
    from distributed import Client

SETTING = "MLOPS_TRAINING_CLUSTER"
ADDRESS = re.compile(r"^tcp://[A-Za-z0-9.\-]+:\d{1,5}$")
CONNECT_TIMEOUT_S = 30
# How far a fit here may be from the single-process fit of the same candidate, relative, on
# validation and test WAPE and MAE. Row sampling and the quantile sketch follow the partitioning,
# so the two are close, not equal. Measured on generated training sets (LocalCluster, 1 thread
# per worker, 64 bins): 0.1-0.5 % with 2 workers on 20 segments x 28 days (the same in 3 cluster
# sessions), 0.9-1.4 % with 3 workers there, 1.6-3.3 % with 2 workers on 40 segments x 35 days
# (with 256 bins: 0.2-0.8 %, 1.6-3.7 % and 1.2-3.0 %).
# A reproduction of a version fitted here refits in one process and compares within this.
TOLERANCE = 0.05


def check_address(address: str) -> str:
    """`address` if it is empty (single process) or a Dask scheduler's tcp://host:port."""
    if address and not (ADDRESS.match(address) and 0 < int(address.rsplit(":", 1)[1]) < 65536):
        raise ValueError(
            f"{SETTING}={address!r} is not a Dask scheduler address; use tcp://host:port "
            "(e.g. tcp://dask-scheduler:8786), or leave it empty to train in this process"
        )
    return address


@contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at `address` with at least one worker; closed on exit."""
    from distributed import Client

    check_address(address)
    try:
        # xgboost.dask looks the client up as the default one: it must be set as default.
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except OSError as error:
        raise ConnectionError(
            f"{SETTING}={address}: no Dask scheduler answered within {CONNECT_TIMEOUT_S}s "
            f"({error}); start the cluster or unset {SETTING} to train in this process"
        ) from error
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        try:
            # Pickled tasks and xgboost's collective need the same versions on every side.
            client.get_versions(check=True, packages=["xgboost"])
        except ValueError as error:
            raise RuntimeError(
                f"{SETTING}={address}: the cluster's packages differ from this run's ({error}); "
                "run its scheduler and workers on the mlops-assets image (deploy/README.md)"
            ) from error
        yield client
    finally:
        client.close()


def workers(client: Client) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _scattered(client: Client, values: np.ndarray, parts: int) -> Array:
    """`values` as a Dask array of `parts` row blocks, each already in a worker's memory (sent
    directly, not embedded in the task graph)."""
    import dask
    import dask.array as da

    blocks = [b for b in np.array_split(values, parts) if len(b)]
    futures = client.scatter(blocks, direct=True, broadcast=False)
    return da.concatenate(
        [
            da.from_delayed(dask.delayed(future), shape=block.shape, dtype=block.dtype)
            for future, block in zip(futures, blocks, strict=True)
        ]
    )


def _matrices(
    client: Client, frame: pl.DataFrame, parts: int, max_bin: int, ref: Any = None
) -> xgb.dask.DaskQuantileDMatrix:
    """Design matrix and label as a quantised matrix on the workers; its bins must be the
    booster's."""
    import xgboost.dask  # noqa: F401 (`import xgboost` alone has no .dask)
    from xgboost.dask import DaskQuantileDMatrix

    return DaskQuantileDMatrix(
        client,
        _scattered(client, fc.design_matrix(frame), parts),
        _scattered(client, fc.relative_label(frame), parts),
        feature_names=list(fc.MODEL_FEATURES),
        max_bin=max_bin,
        ref=ref,
    )


def _params(params: fc.BoosterParams, seed: int) -> dict[str, Any]:
    """The single-process parameters less the thread count: each worker uses its own."""
    return {k: v for k, v in params.xgb_params(seed).items() if k != "nthread"}


def fit(
    train: pl.DataFrame,
    validation: pl.DataFrame,
    params: fc.BoosterParams,
    seed: int,
    address: str,
) -> fc.FitResult:
    """`forecasting.fit` on the cluster: stop early on `validation` MAE, keep the best trees."""
    import xgboost.dask as dxgb

    started = time.perf_counter()
    with connect(address) as client:
        parts = workers(client)
        dtrain = _matrices(client, train, parts, params.max_bin)
        dvalid = _matrices(client, validation, parts, params.max_bin, ref=dtrain)
        out = dxgb.train(
            client,
            _params(params, seed),
            dtrain,
            num_boost_round=params.max_rounds,
            evals=[(dtrain, "train"), (dvalid, "validation")],
            early_stopping_rounds=params.early_stopping_rounds,
            verbose_eval=False,
        )
    booster: xgb.Booster = out["booster"]
    best = int(booster.best_iteration)
    return fc.FitResult(
        booster=booster[: best + 1],
        best_iteration=best,
        curve={name: values["mae"] for name, values in out["history"].items()},
        seconds=time.perf_counter() - started,
        rows=train.height,
        cluster=address,
        workers=parts,
    )


def refit(
    frame: pl.DataFrame, params: fc.BoosterParams, rounds: int, seed: int, address: str
) -> xgb.Booster:
    """`forecasting.refit` on the cluster: exactly `rounds` rounds, no early stopping."""
    import xgboost.dask as dxgb

    with connect(address) as client:
        out = dxgb.train(
            client,
            _params(params, seed),
            _matrices(client, frame, workers(client), params.max_bin),
            num_boost_round=rounds,
            verbose_eval=False,
        )
    return out["booster"]
