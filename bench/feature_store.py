"""Benchmark: the feature store. Online lookups, training sets (our ASOF join vs Feast) and
materialization, on random feature rows that satisfy the feature contract.

Run through `bench/run.py`, or directly: `.venv/bin/python bench/feature_store.py [--quick]`.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from common import banner, measure_peak, seconds, table

from mlops_assets.feature_repo.offline import FEATURE_VIEW, offline_dir, write_partition
from mlops_assets.feature_repo.repo import FEATURE_SERVICE, TTL
from mlops_assets.feature_repo.retrieval import (
    historical_features_feast,
    online_features,
    point_in_time_join,
)
from mlops_assets.feature_repo.store import (
    apply_repo,
    feature_store,
    materialize_day,
    materialize_day_feast,
)
from mlops_assets.lib.features import ENTITY, FEATURE_NAMES, FEATURES, FEATURES_SCHEMA, TIMESTAMP

FIRST_DAY = date(2025, 1, 1)
REFS = [f"{FEATURE_VIEW}:{name}" for name in FEATURE_NAMES]


def segments(n: int) -> list[str]:
    return [f"DK{1 + i % 2}-{i // 2}" for i in range(n)]


def feature_day(day: date, segment_ids: list[str], rng: np.random.Generator) -> pl.DataFrame:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    hours = pl.datetime_range(start, start + timedelta(hours=23), "1h", time_unit="us", eager=True)
    grid = pl.DataFrame({ENTITY: segment_ids}).join(pl.DataFrame({TIMESTAMP: hours}), how="cross")
    n = grid.height
    values = {}
    for spec in FEATURES:
        if spec.dtype == pl.String():
            values[spec.name] = pl.Series(rng.choice(["DK1", "DK2"], n), dtype=pl.String)
        elif spec.dtype == pl.Int64():
            values[spec.name] = pl.Series(rng.integers(0, 40, n), dtype=pl.Int64)
        else:
            values[spec.name] = pl.Series(rng.uniform(1.0, 1000.0, n), dtype=pl.Float64)
    return grid.with_columns(**values).select(list(FEATURES_SCHEMA))


def write_history(root: Path, n_segments: int, n_days: int) -> int:
    rng = np.random.default_rng(1)
    ids = segments(n_segments)
    for i in range(n_days):
        day = FIRST_DAY + timedelta(days=i)
        write_partition(offline_dir(root), day, feature_day(day, ids, rng))
    return n_segments * n_days * 24


def entity_frame(n_rows: int, n_segments: int, n_days: int) -> pl.DataFrame:
    rng = np.random.default_rng(2)
    start = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    seconds_ = rng.integers(0, n_days * 86_400, n_rows)
    frame = pl.DataFrame(
        {
            ENTITY: rng.choice(segments(n_segments), n_rows),
            TIMESTAMP: pl.Series(seconds_ * 1_000_000).cast(pl.Datetime("us", "UTC"))
            + (start - datetime(1970, 1, 1, tzinfo=UTC)),
        }
    )
    # Feast drops repeated (segment, time) rows; keep them unique so the outputs compare.
    return frame.unique([ENTITY, TIMESTAMP], keep="first", maintain_order=True)


def quiet(run: Callable[[], object]) -> Callable[[], object]:
    """Feast prints progress bars and warns about experimental views; keep the tables readable."""

    def wrapped() -> object:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return run()

    return wrapped


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def online_latency(root: Path, calls: int) -> list[list[object]]:
    n_segments = 100
    write_history(root, n_segments, 2)
    store = feature_store(root)
    quiet(lambda: apply_repo(store, root))()
    quiet(lambda: materialize_day(store, FIRST_DAY + timedelta(days=1)))()
    ids = segments(n_segments)
    rows = []
    for label, features in (
        (f"{len(REFS)} feature refs", REFS),
        ("feature service (+ python ODFV)", store.get_feature_service(FEATURE_SERVICE)),
    ):
        lookup = quiet(lambda f=features: online_features(store, ids, f))
        for _ in range(20):
            lookup()
        times = [timed(lookup) for _ in range(calls)]
        p50 = statistics.median(times)
        p99 = float(np.quantile(times, 0.99))
        rows.append([f"100 segments, {label}", seconds(p50), seconds(p99), calls])
    return rows


def training_sets(root: Path, big_rows: int, common_rows: int) -> list[list[object]]:
    n_segments = 76
    year = root / "year"
    feature_rows = write_history(year, n_segments, 365)
    two_weeks = root / "two_weeks"
    short_rows = write_history(two_weeks, n_segments, 14)
    rows = []

    def ours(where: Path, entity: pl.DataFrame) -> Callable[[], object]:
        return lambda: point_in_time_join(entity, offline_dir(where), FEATURE_NAMES, TTL)

    big = entity_frame(big_rows, n_segments, 365)
    ours(year, big.head(1000))()  # warm-up: DuckDB extension and Parquet metadata
    took = timed(ours(year, big))
    peak, _ = measure_peak(ours(year, big))
    rows.append(
        [
            "ours (DuckDB ASOF)",
            f"{feature_rows:,}",
            f"{big.height:,}",
            seconds(took),
            f"{big.height / took:,.0f}",
            f"{max(peak, 0.0):,.0f}",
        ]
    )

    store = feature_store(two_weeks)
    quiet(lambda: apply_repo(store, two_weeks))()
    common = entity_frame(common_rows, n_segments, 14)
    feast = quiet(lambda: historical_features_feast(store, common, REFS))
    quiet(lambda: historical_features_feast(store, common.head(100), REFS))()  # warm-up
    took_ours = timed(ours(two_weeks, common))
    took_feast = timed(feast)
    peak_ours, _ = measure_peak(ours(two_weeks, common))
    peak_feast, _ = measure_peak(feast)
    for label, took_, peak_ in (
        ("ours (DuckDB ASOF)", took_ours, peak_ours),
        ("Feast file store", took_feast, peak_feast),
    ):
        rows.append(
            [
                label,
                f"{short_rows:,}",
                f"{common.height:,}",
                seconds(took_),
                f"{common.height / took_:,.0f}",
                f"{max(peak_, 0.0):,.0f}",
            ]
        )
    rows.append(
        ["ratio Feast / ours", "", f"{common.height:,}", f"{took_feast / took_ours:,.0f}x", "", ""]
    )
    return rows


def materialization(root: Path, history_days: tuple[int, ...]) -> list[list[object]]:
    """One day into the online store: ours (the day's partition, write_to_online_store) against
    Feast's `materialize` of the day's window (which reads the whole folder), same rows written."""
    rows = []
    for n_days in history_days:
        where = root / f"mat{n_days}"
        write_history(where, 76, n_days)
        store = feature_store(where)
        quiet(lambda s=store, w=where: apply_repo(s, w))()
        last = FIRST_DAY + timedelta(days=n_days - 1)
        times = {}
        for label, load in (
            ("ours", materialize_day),
            ("Feast materialize", materialize_day_feast),
        ):
            quiet(lambda s=store, d=last, f=load: f(s, d - timedelta(days=1)))()  # warm-up
            run = quiet(lambda s=store, d=last, f=load: f(s, d))
            times[label] = timed(run)
            peak, _ = measure_peak(run)
            rows.append(
                [
                    f"1 day (76 x 24 rows), {n_days} days in the folder",
                    label,
                    seconds(times[label]),
                    f"{max(peak, 0.0):,.0f}",
                ]
            )
        rows.append(
            ["", "ratio Feast / ours", f"{times['Feast materialize'] / times['ours']:.1f}x", ""]
        )
    return rows


def run(quick: bool = False) -> str:
    """Build the stores in a temporary folder, time them and return the tables."""
    with tempfile.TemporaryDirectory(prefix="bench-feature-store-") as tmp:
        root = Path(tmp)
        import_s = timed(lambda: __import__("feast"))
        online = online_latency(root / "online", calls=100 if quick else 300)
        training = training_sets(
            root / "training", big_rows=200_000 if quick else 1_000_000, common_rows=10_000
        )
        materialized = materialization(root / "mat", (14,) if quick else (14, 365))
    return "\n".join(
        [
            banner("Feature store (Feast 0.67, file offline store, SQLite online store)"),
            f"`import feast` in this process: {seconds(import_s)} (kept out of module loads).",
            "",
            "Online lookup, in process (get_online_features(...).to_dict()), after 20 warm-ups",
            table(["request", "p50", "p99", "calls"], online),
            "",
            "Training set: point-in-time join of all 18 features, TTL 2 days, peak MiB",
            table(
                ["implementation", "feature rows", "entity rows", "time", "rows/s", "peak MiB"],
                training,
            ),
            "",
            "One day into the SQLite online store: ours reads the day's partition; Feast's "
            "materialize reads the folder",
            table(["window", "loaded by", "time", "peak MiB"], materialized),
        ]
    )


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
