"""The offline store: one Parquet file of feature rows per UTC day, read by Feast and DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.lib.features import ENTITY, FEATURES_SCHEMA, TIMESTAMP
from mlops_assets.lib.lake import write_parquet_atomic

FEATURE_VIEW = "consumption_features"


def offline_dir(feature_store_dir: Path) -> Path:
    """The flat folder of daily partitions that the Feast file source and DuckDB globs read."""
    return feature_store_dir / "offline" / FEATURE_VIEW


def partition_path(directory: Path, day: date) -> Path:
    return directory / f"{day.isoformat()}.parquet"


def partition_glob(directory: Path) -> str:
    """The glob of every partition; temporary files do not match it."""
    return str(directory / "*.parquet")


def day_window(day: date) -> tuple[datetime, datetime]:
    """The first and last microsecond of a UTC day: the inclusive window Feast materializes."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1) - timedelta(microseconds=1)


def write_partition(directory: Path, day: date, frame: pl.DataFrame) -> Path:
    """Replace the partition of `day` with `frame` atomically; re-running a day never duplicates."""
    path = partition_path(directory, day)
    return write_parquet_atomic(_checked(path, day, frame), path)


def _checked(path: Path, day: date, frame: pl.DataFrame) -> pl.DataFrame:
    where = f"feature partition {day} ({path})"
    missing = [c for c in FEATURES_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: columns {missing} are missing; build it with build_features")
    for column, dtype in FEATURES_SCHEMA.items():
        actual = frame.schema[column]
        # Any time zone is accepted and converted; a naive time would be a silent guess.
        if column == TIMESTAMP and isinstance(actual, pl.Datetime) and actual.time_zone:
            continue
        if actual != dtype:
            raise ValueError(f"{where}: column {column!r} is {actual}, the contract says {dtype}")
    out = frame.select(
        pl.col(ENTITY),
        pl.col(TIMESTAMP).dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        *[pl.col(c) for c in FEATURES_SCHEMA if c not in (ENTITY, TIMESTAMP)],
    )
    start, last = day_window(day)
    keys = out.select(
        pl.col(ENTITY).null_count().alias("null_keys"),
        pl.col(TIMESTAMP).null_count().alias("null_times"),
        ((pl.col(TIMESTAMP) < start) | (pl.col(TIMESTAMP) > last)).sum().alias("outside"),
        pl.struct(ENTITY, TIMESTAMP).is_duplicated().sum().alias("duplicates"),
    ).row(0, named=True)
    if keys["null_keys"] or keys["null_times"]:
        raise ValueError(f"{where}: {ENTITY!r} or {TIMESTAMP!r} has nulls; every row needs both")
    if keys["outside"]:
        raise ValueError(
            f"{where}: {keys['outside']} rows have {TIMESTAMP!r} outside the UTC day {day}; "
            "write each day's rows to its own partition"
        )
    if keys["duplicates"]:
        raise ValueError(
            f"{where}: {keys['duplicates']} rows repeat a ({ENTITY}, {TIMESTAMP}) pair; "
            "a point-in-time join needs one row per segment and hour"
        )
    return out.sort(ENTITY, TIMESTAMP)
