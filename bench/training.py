"""Benchmark: training and batch scoring of the XGBoost forecaster, on synthetic training sets.

Training: `time_split(frame, 2, 7)` + `fit(train, validation, BoosterParams(), seed=7)` wall
time, rows/s and the peak memory it adds, at two training-set sizes, each in a fresh process.
Scoring: `predict(booster, frame)` from the polars frame (design matrix and level scaling
included) beside raw XGBoost prediction on a prebuilt float32 matrix and a naive pandas
equivalent; the project target is batch scoring at most 25 % above raw XGBoost prediction.

Bounded training time (`--bounds [--quick]`, not part of `bench/run.py`): on generated training
sets (the generator, staging and feature code, 30 days) of 76, 760 and 7,600 segments, the
early-stopped fit with our BoosterParams (64 histogram bins) beside XGBoost's default 256 bins
and row sampling at 0.5: fit time, rounds, validation and test WAPE side by side, each size in a
fresh process (`--bounds-one N`). `--per-round N` times a round of each, interleaved. Results and
the choice in bench/README.md.

Run through `bench/run.py`, or directly: `.venv/bin/python bench/training.py [--quick]`. Run with
`--peak ...` it is the fresh process that times one fit and measures its peak memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
from common import banner, best_of, measure_peak, seconds, table

from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, FEATURES, FEATURES_SCHEMA, LABEL, TIMESTAMP

if TYPE_CHECKING:
    import xgboost as xgb

START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 55  # 46 training, 2 validation and 7 test days (the shortest test window allowed)
# Segments (half in DK1, half in DK2) x 55 days x 24 h: ~100k and ~1M rows; quick ~50k and ~200k.
FULL_SEGMENTS = (76, 760)
QUICK_SEGMENTS = (38, 152)
TRAIN_SEED, SCORE_SEED, FIT_SEED = 1, 2, 7
FEWER_REPEATS_FROM = 500_000  # scoring: best of 5 below this many rows, best of 2 from it
TARGET_RATIO = 1.25  # batch scoring costs at most 25 % more than raw XGBoost prediction
# A training set's columns: the staged consumption label joined with the contract's features.
COLUMNS: dict[str, pl.DataType] = {
    ENTITY: FEATURES_SCHEMA[ENTITY],
    TIMESTAMP: FEATURES_SCHEMA[TIMESTAMP],
    LABEL: pl.Float64(),
    **FEATURES_SCHEMA,
}


def synthetic_frame(n_segments: int, seed: int, days: int = DAYS) -> pl.DataFrame:
    """A training set's columns and dtypes: hourly rows per segment, segment sizes over four
    orders of magnitude, and a label near the level with a learnable daily, weekend and heating
    shape plus 3 % noise, so early stopping ends a realistic fit."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    n = n_segments * hours
    segment = np.repeat(np.arange(n_segments), hours)
    hour = np.tile(np.arange(hours), n_segments)
    hour_of_day, day = hour % 24, hour // 24
    day_of_week = (day + START.weekday()) % 7
    weekend = (day_of_week >= 5).astype(np.int64)
    base = 10 ** rng.uniform(1.0, 5.0, n_segments)
    level = (
        base[segment]
        * (1 + 0.3 * np.sin(2 * np.pi * (hour_of_day - 6) / 24))
        * rng.lognormal(0.0, 0.05, n)
    )
    temperature = 4 + 4 * np.sin(2 * np.pi * (hour_of_day - 9) / 24) + rng.normal(0.0, 3.0, n)
    heating = np.maximum(0.0, 17 - temperature)
    relative = (
        1
        + 0.06 * np.cos(2 * np.pi * hour_of_day / 24)
        - 0.08 * weekend
        + 0.01 * (heating - 13)
        + rng.normal(0.0, 0.03, n)
    )

    def around(spread: float, of: np.ndarray = level) -> np.ndarray:
        return of * rng.lognormal(0.0, spread, n)

    def with_gaps(values: np.ndarray, share: float = 0.01) -> pl.Series:
        return pl.Series(values).scatter(np.flatnonzero(rng.random(n) < share), None)

    names = np.array([f"DK{1 + i % 2}-{100 + i // 2}" for i in range(n_segments)])
    timestamps = pl.Series(hour * 3_600_000_000).cast(pl.Datetime("us", "UTC")) + (
        START - datetime(1970, 1, 1, tzinfo=UTC)
    )
    values = {
        ENTITY: names[segment],
        TIMESTAMP: timestamps,
        LABEL: level * relative,
        "price_area": np.where(segment % 2 == 0, "DK1", "DK2"),
        "consumer_type": 100 + segment // 2,
        "hour_of_day": hour_of_day,
        "day_of_week": day_of_week,
        "month": np.where(day < 31, 1, 2),
        "is_weekend": weekend,
        "is_holiday": (day == 0).astype(np.int64),
        "lag_24h": with_gaps(around(0.1)),
        "lag_48h": with_gaps(around(0.12)),
        "lag_168h": around(0.08),
        "lag_336h": around(0.1),
        "day_type": np.select([day_of_week == 0, day_of_week == 5, day_of_week == 6], [0, 2, 3], 1),
        "holiday_yesterday": (day == 1).astype(np.int64),
        "holiday_last_week": (day == 7).astype(np.int64),
        "weekday_naive": level,
        "day_type_mean_2w": around(0.04),
        "same_hour_mean_2w": around(0.05),
        "rolling_mean_24h": around(0.05, base[segment]),
        "rolling_std_24h": with_gaps(around(0.2, 0.2 * base[segment])),
        "rolling_mean_168h": around(0.03, base[segment]),
        "rolling_std_168h": around(0.1, 0.25 * base[segment]),
        "rolling_mean_24h_last_week": around(0.05, base[segment]),
        "rolling_mean_168h_last_week": around(0.03, base[segment]),
        "temperature_c": temperature,
        "heating_degrees": heating,
        "cooling_degrees": np.maximum(0.0, temperature - 22),
    }
    frame = pl.DataFrame(values).select(pl.col(c).cast(t) for c, t in COLUMNS.items())
    if frame.schema != pl.Schema(COLUMNS):
        raise RuntimeError(f"synthetic frame schema {frame.schema} is not {COLUMNS}")
    return frame


def label(n_segments: int) -> str:
    return f"{n_segments} seg x {DAYS} days"


# --- one fit, in a fresh process ------------------------------------------------------------------


def _fit_main(n_segments: str, model_path: str) -> None:
    frame = synthetic_frame(int(n_segments), TRAIN_SEED)
    # Warm-up on a 4-segment, 6-day frame: xgboost's import, thread pool and allocator.
    warm = fc.time_split(synthetic_frame(4, TRAIN_SEED, days=11), 2, 7)
    fc.fit(warm.train, warm.validation, fc.BoosterParams(max_rounds=5), seed=FIT_SEED)
    results: list[tuple[fc.Split, fc.FitResult]] = []

    def split_and_fit() -> None:
        split = fc.time_split(frame, 2, 7)
        results.append((split, fc.fit(split.train, split.validation, fc.BoosterParams(), FIT_SEED)))

    started = time.perf_counter()
    peak, method = measure_peak(split_and_fit)
    took = time.perf_counter() - started
    split, fitted = results.pop()
    fitted.booster.save_model(model_path)
    report = {
        "rows": frame.height,
        "train_rows": split.train.height,
        "validation_rows": split.validation.height,
        "seconds": took,
        "rounds": len(fitted.curve["validation"]),
        "best_iteration": fitted.best_iteration,
        "validation_mae": fitted.curve["validation"][fitted.best_iteration],
        "peak_mib": peak,
        "method": method,
    }
    print(json.dumps(report))


def run_fit(n_segments: int, model_path: Path) -> dict[str, float]:
    """Split and fit one synthetic training set in a new interpreter; the model lands in
    `model_path`."""
    args = [sys.executable, __file__, "--peak", str(n_segments), str(model_path)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"training benchmark process failed for {n_segments}:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# --- scoring --------------------------------------------------------------------------------------


def raw_predict(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """Raw XGBoost prediction (relative to the level) on a prebuilt design matrix."""
    import xgboost as xgb

    dmatrix = xgb.DMatrix(matrix, feature_names=list(fc.MODEL_FEATURES), nthread=fc.N_THREADS)
    return booster.predict(dmatrix)


def naive_predict(booster: xgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """The design matrix and level scaling written with pandas column operations."""
    scale = frame[fc.LEVEL].fillna(frame[fc.LEVEL_FALLBACK])
    columns: dict[str, pd.Series] = {}
    for spec in FEATURES:
        column = frame[spec.name]
        if spec.dtype == pl.String():
            columns[spec.name] = column.str.extract(r"(\d+)$", expand=False).astype("float64")
        elif spec.name in fc.SCALED:
            columns[spec.name] = column / scale
        else:
            columns[spec.name] = column.astype("float64")
    for name, (now, before) in fc.RATIOS.items():
        columns[name] = frame[now] / frame[before]
    day_on_day = columns["day_on_day_last_week"]
    columns["lag_168h_level_adjusted"] = frame["lag_168h"] * day_on_day / scale
    columns["log10_level"] = np.log10(scale)
    matrix = pd.DataFrame(columns).to_numpy(dtype=np.float32)
    return raw_predict(booster, matrix) * scale.to_numpy()


def scoring(booster: xgb.Booster, n_segments: int) -> tuple[list[list[object]], list[object]]:
    """Time the three scorers on one synthetic frame, after checking they agree."""
    frame = synthetic_frame(n_segments, SCORE_SEED)
    matrix = fc.design_matrix(frame)
    level = fc.level(frame).fill_null(float("nan")).to_numpy()
    pandas_frame = frame.to_pandas()
    ours = fc.predict(booster, frame)
    raw = raw_predict(booster, matrix)
    naive = naive_predict(booster, pandas_frame)
    if not np.allclose(ours, raw * level, equal_nan=True):
        raise RuntimeError(f"{label(n_segments)}: predict() differs from raw XGBoost x level")
    if not np.allclose(naive, ours, equal_nan=True):
        raise RuntimeError(f"{label(n_segments)}: the naive pandas scores differ from ours")
    repeats = 5 if frame.height < FEWER_REPEATS_FROM else 2
    took = {
        "ours: predict(booster, frame)": best_of(lambda: fc.predict(booster, frame), repeats),
        "raw XGBoost, prebuilt X": best_of(lambda: raw_predict(booster, matrix), repeats),
        "naive pandas": best_of(lambda: naive_predict(booster, pandas_frame), repeats),
        "(ours' design_matrix + level alone)": best_of(
            lambda: (fc.design_matrix(frame), fc.level(frame).to_numpy()), repeats
        ),
    }
    rows: list[list[object]] = [
        [name, frame.height, seconds(t), f"{frame.height / t:,.0f}"] for name, t in took.items()
    ]
    ours_s, raw_s, naive_s = (took[k] for k in list(took)[:3])
    ratio = ours_s / raw_s
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    return rows, [frame.height, f"{ratio:.2f}x", verdict, f"{naive_s / ours_s:.1f}x"]


# --- the benchmark --------------------------------------------------------------------------------


def run(quick: bool = False) -> str:
    """Fit each size in a fresh process, score with the smaller size's model, return the tables."""
    import xgboost as xgb  # imported here, like forecasting does, to keep `import training` cheap

    sizes = QUICK_SEGMENTS if quick else FULL_SEGMENTS
    training_rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        models = [Path(tmp) / f"model_{n}.ubj" for n in sizes]
        for n_segments, model_path in zip(sizes, models, strict=True):
            fit = run_fit(n_segments, model_path)
            took = fit["seconds"]
            training_rows.append(
                [
                    label(n_segments),
                    int(fit["rows"]),
                    int(fit["train_rows"]),
                    int(fit["rounds"]),
                    int(fit["best_iteration"]),
                    f"{fit['validation_mae']:.4f}",
                    seconds(took),
                    f"{fit['rows'] / took:,.0f}",
                    f"{took / fit['rounds'] * 1000:.1f}",
                    f"{max(fit['peak_mib'], 0.0):,.0f}",
                ]
            )
        booster = xgb.Booster(model_file=str(models[0]))
    scoring_rows: list[list[object]] = []
    ratio_rows: list[list[object]] = []
    for n_segments in sizes:
        rows, ratios = scoring(booster, n_segments)
        scoring_rows += rows
        ratio_rows.append(ratios)
    return "\n".join(
        [
            banner("Training and scoring: XGBoost forecaster (forecasting.fit / predict)"),
            f"Synthetic training sets with the real columns and dtypes ({DAYS} hourly days per",
            "segment, segment sizes over 4 orders of magnitude, label = level x (learnable shape",
            "+ 3 % noise)). Fit: time_split(frame, 2, 7) + fit(BoosterParams(), seed=7), 2",
            "threads, one run per size in a fresh process after a warm-up fit; rows/s counts all",
            "training-set rows; peak MiB is the RSS the split and fit add in that process.",
            "",
            table(
                [
                    "training set",
                    "rows",
                    "train rows",
                    "rounds",
                    "best iter",
                    "val MAE",
                    "time",
                    "rows/s",
                    "ms/round",
                    "peak MiB",
                ],
                training_rows,
            ),
            "",
            f"Scoring with the {label(sizes[0])} model ({booster.num_boosted_rounds()} trees) on",
            f"unseen synthetic frames, best of 5 (of 2 from {FEWER_REPEATS_FROM:,} rows). Every",
            "call builds a fresh DMatrix, so XGBoost's prediction cache never answers. ours starts",
            "from the polars frame; raw XGBoost gets the float32 design matrix prebuilt outside",
            "the timing (DMatrix + predict); naive pandas starts from frame.to_pandas(), converted",
            "outside the timing (pandas column ops, str.extract, DataFrame.to_numpy, predict).",
            "All three checked equal (ours = raw x level, pandas = ours) before timing.",
            "",
            table(["scorer", "rows", "time", "rows/s"], scoring_rows),
            "",
            table(["rows", "ours / raw", f"target <= {TARGET_RATIO}", "pandas / ours"], ratio_rows),
        ]
    )


# --- bounded training time -----------------------------------------------------------------------

BOUND_DAYS = 30  # 16 training, 7 validation and 7 test days: TrainingConfig's split
BOUND_SEGMENTS = (76, 760, 7_600)  # 54,720 / 547,200 / 5,472,000 rows
QUICK_BOUND_SEGMENTS = (76, 760)
BOUND_START = datetime(2025, 1, 6, tzinfo=UTC)
# Ours first (max_bin 64, subsample 0.9); each alternative changes only what its name says.
ALTERNATIVES: dict[str, dict[str, float]] = {
    "ours": {},
    "max_bin 256 (default)": {"max_bin": fc.LEGACY_MAX_BIN},
    "subsample 0.5": {"subsample": 0.5},
}


def generated_frame(n_segments: int, days: int = BOUND_DAYS) -> pl.DataFrame:
    """A training set as the pipeline builds it: generated raw consumption and weather
    forecasts, staged, the feature code, labels joined."""
    from datetime import timedelta

    from mlops_assets.lib.generator import GeneratorConfig
    from mlops_assets.lib.scenario import one_window_training_set

    return one_window_training_set(
        BOUND_START,
        BOUND_START + timedelta(days=days),
        GeneratorConfig(n_consumer_types=n_segments // 2),
    )


def _wape(booster: xgb.Booster, rows: pl.DataFrame) -> float:
    scored = rows.with_columns(pl.Series(fc.PREDICTION, fc.predict(booster, rows)))
    return fc.evaluate(scored, fc.PREDICTION, "model").overall["wape"]


def _bounds_main(n_segments: str) -> None:
    """Every alternative's early-stopped fit on one generated training set, in this process."""
    started = time.perf_counter()
    frame = generated_frame(int(n_segments))
    split = fc.time_split(frame, 7, 7)
    built = time.perf_counter() - started
    validation, test = fc.comparable_rows(split.validation), fc.comparable_rows(split.test)
    warm = fc.BoosterParams(max_rounds=5)
    fc.fit(split.validation, split.validation, warm, seed=FIT_SEED)  # xgboost's import and pool
    results = {}
    for name, change in ALTERNATIVES.items():
        params = fc.BoosterParams(**change)  # type: ignore[arg-type]
        fitted = fc.fit(split.train, split.validation, params, FIT_SEED)

        results[name] = {
            "seconds": fitted.seconds,
            "rounds": fitted.rounds,
            "validation_wape": _wape(fitted.booster, validation),
            "test_wape": _wape(fitted.booster, test),
        }
    print(
        json.dumps(
            {"rows": frame.height, "train_rows": split.train.height, "build_s": built, **results}
        )
    )


PER_ROUND_ROUNDS, PER_ROUND_REPEATS = 40, 2


def _per_round_main(n_segments: str) -> None:
    """Seconds per boosting round at a fixed number of rounds, the alternatives interleaved and
    the best of `PER_ROUND_REPEATS` kept, so a change in the machine's load hits all alike.
    Early stopping is off: the time of a round, not how many rounds a setting needs."""
    import xgboost as xgb

    split = fc.time_split(generated_frame(int(n_segments)), 7, 7)
    matrix, label = fc.design_matrix(split.train), fc.relative_label(split.train)
    best: dict[str, float] = {}
    for _ in range(PER_ROUND_REPEATS):
        for name, change in ALTERNATIVES.items():
            params = fc.BoosterParams(**change)  # type: ignore[arg-type]
            started = time.perf_counter()
            data = xgb.DMatrix(matrix, label=label, nthread=fc.N_THREADS)
            xgb.train(params.xgb_params(FIT_SEED), data, PER_ROUND_ROUNDS)
            took = (time.perf_counter() - started) / PER_ROUND_ROUNDS
            best[name] = min(best.get(name, took), took)
    print(json.dumps({"train_rows": split.train.height, **best}))


def bounds(quick: bool = False) -> str:
    """Ours vs the alternatives at each size, side by side, each size in a fresh process."""
    rows: list[list[object]] = []
    for n_segments in QUICK_BOUND_SEGMENTS if quick else BOUND_SEGMENTS:
        args = [sys.executable, __file__, "--bounds-one", str(n_segments)]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"bounds process failed for {n_segments}:\n{done.stderr}")
        result = json.loads(done.stdout.splitlines()[-1])
        ours = result["ours"]
        for name in ALTERNATIVES:
            r = result[name]
            rows.append(
                [
                    f"{n_segments} seg x {BOUND_DAYS} days",
                    f"{result['train_rows']:,}",
                    name,
                    seconds(r["seconds"]),
                    f"{r['seconds'] / ours['seconds']:.2f}",
                    r["rounds"],
                    f"{r['seconds'] / r['rounds'] * 1000:.0f}",
                    f"{r['validation_wape']:.3f}",
                    f"{(r['validation_wape'] / ours['validation_wape'] - 1) * 100:+.1f}",
                    f"{r['test_wape']:.3f}",
                    f"{(r['test_wape'] / ours['test_wape'] - 1) * 100:+.1f}",
                ]
            )
    return "\n".join(
        [
            banner("Bounded training time: our BoosterParams vs max_bin and subsample"),
            f"Generated training sets ({BOUND_DAYS} days from {BOUND_START:%Y-%m-%d}, generator",
            "seed 42, the staging and feature code), time_split(frame, 7, 7), the early-stopped",
            f"fit (DMatrix build included, seed {FIT_SEED}, 2 threads); WAPE on the rows every",
            "baseline can score. vs ours: time ratio, WAPE change in % of ours.",
            "",
            table(
                [
                    "training set",
                    "train rows",
                    "params",
                    "fit",
                    "time/ours",
                    "rounds",
                    "ms/round",
                    "val WAPE %",
                    "vs ours %",
                    "test WAPE %",
                    "vs ours %",
                ],
                rows,
            ),
        ]
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--peak"]:
    _fit_main(*sys.argv[2:4])
elif __name__ == "__main__" and sys.argv[1:2] == ["--bounds-one"]:
    _bounds_main(sys.argv[2])
elif __name__ == "__main__" and sys.argv[1:2] == ["--per-round"]:
    _per_round_main(sys.argv[2])
elif __name__ == "__main__" and "--bounds" in sys.argv:
    print(bounds(quick="--quick" in sys.argv))
elif __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
