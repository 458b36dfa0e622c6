"""The same candidate trained in this process and on a Dask cluster (MLOPS_TRAINING_CLUSTER):
a real `distributed.LocalCluster` on 127.0.0.1 (2 worker processes x 1 thread), closed at the
end. The two fits partition and sample rows differently, so they agree within a tolerance, not
bit for bit: on this test's data (20 segments x 28 days) the relative difference of validation
WAPE and MAE was 0.49 % and of test WAPE and MAE 0.08 %, the same in 3 cluster sessions (0.19 %
and 0.79 % with 256 bins); the test allows 2 % (TOLERANCE). Other shapes differ more (up to
3.3 %, so `dask_training.TOLERANCE` is 5 %), so this one is fixed. The gate decides the same."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib import dask_training, families, training
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.registry import Registry
from mlops_tests.model.test_registry import local_registry
from mlops_tests.unit.test_forecasting import training_frame

CONFIG = training.TrainingConfig(validation_days=3, test_days=7, seed=7, families=("xgboost",))
COMPARED = ("wape", "mae")
TOLERANCE = 0.02  # measured 0.49 % at most (see above)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distributed")
    training_frame(days=28, n_consumer_types=10).write_parquet(root / "training_set.parquet")
    return root


@pytest.fixture(scope="module")
def registry(workdir: Path) -> Registry:
    return local_registry(workdir, "distributed")


def train(registry: Registry, workdir: Path, cluster: str) -> training.CandidateResult:
    return training.train_candidate(
        training_set_path=workdir / "training_set.parquet",
        registry=registry,
        config=dataclasses.replace(CONFIG, cluster=cluster),
        gate_policy=fc.GatePolicy(),
        lineage={"dagster_run_id": "test-run"},
        log=lambda _: None,
    )


@pytest.fixture(scope="module")
def both(
    registry: Registry, workdir: Path, scheduler: str
) -> tuple[training.CandidateResult, training.CandidateResult]:
    return train(registry, workdir, ""), train(registry, workdir, scheduler)


def relative_differences(
    single: training.CandidateResult, dask: training.CandidateResult
) -> dict[str, float]:
    def scores(result: training.CandidateResult) -> dict[str, float]:
        validation = result.candidates.row(0, named=True)
        return {
            **{f"test_{k}": result.candidate.overall[k] for k in COMPARED},
            **{f"validation_{k}": validation[f"validation_{k}"] for k in COMPARED},
        }

    ours, theirs = scores(single), scores(dask)
    return {k: abs(theirs[k] - ours[k]) / abs(ours[k]) for k in ours}


def test_dask_and_single_process_fits_agree_within_the_tolerance_and_gate_alike(
    both: tuple[training.CandidateResult, training.CandidateResult],
) -> None:
    single, dask = both
    differences = relative_differences(single, dask)
    print(f"relative differences, Dask vs single process: {differences}")
    assert max(differences.values()) <= TOLERANCE, differences
    assert dask.decision.passed == single.decision.passed
    assert dask.decision.best_baseline == single.decision.best_baseline
    # Tighter or looser, a policy decides both candidates the same way.
    for margin in (0.0, 0.2, 0.9):
        policy = fc.GatePolicy(baseline_margin=margin)
        decided = [fc.gate(r.candidate, [r.baseline], None, policy).passed for r in both]
        assert decided[0] == decided[1], margin
    # The baselines are the data's, not the model's: identical on both paths.
    assert dask.baseline.overall == single.baseline.overall


def test_the_run_records_where_it_trained_and_the_booster_is_an_ordinary_one(
    registry: Registry,
    workdir: Path,
    scheduler: str,
    both: tuple[training.CandidateResult, training.CandidateResult],
) -> None:
    single, dask = both
    params, _, tags = registry.run_record(single.run_id)
    assert tags[training.PATH_TAG] == params[training.PATH_TAG] == "single_process"
    assert params["training_cluster"] == "none" and "training_cluster" not in tags
    params, metrics, tags = registry.run_record(dask.run_id)
    assert tags[training.PATH_TAG] == params[training.PATH_TAG] == "xgboost.dask"
    assert tags["training_cluster"] == params["training_cluster"] == scheduler
    assert params["dask_workers"] == "2"
    assert registry.training_config(dask.run_id)[training.PATH_TAG] == "xgboost.dask"
    # Stored as UBJ and scored by the same code as a single-process model.
    forecaster = registry.load_forecaster(dask.version)
    assert isinstance(forecaster, families.XGBoostForecaster)
    assert forecaster.booster.num_boosted_rounds() == metrics["refit_rounds"]
    frame = pl.read_parquet(workdir / "training_set.parquet")
    split = fc.time_split(frame, CONFIG.validation_days, CONFIG.test_days)
    again = fc.evaluate_all(split.test, {"candidate": forecaster.predict(split.test)})
    assert again["candidate"].overall["wape"] == pytest.approx(dask.candidate.overall["wape"])


def test_a_version_fitted_on_dask_reproduces_in_one_process_within_the_tolerance(
    registry: Registry,
    workdir: Path,
    both: tuple[training.CandidateResult, training.CandidateResult],
) -> None:
    frame = pl.read_parquet(workdir / "training_set.parquet")
    lines: list[str] = []
    result = training.reproduce(registry, both[1].version, lambda *_: frame, log=lines.append)
    assert result.tolerance == dask_training.TOLERANCE
    assert any("fitted on a Dask cluster" in line for line in lines)
    assert result.reproduced, result.metrics
