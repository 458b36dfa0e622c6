"""Training sets: a DuckDB ASOF join with Feast's point-in-time rule, and Feast's own to compare."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from mlops_assets.feature_repo.offline import partition_glob, partition_path
from mlops_assets.lib.features import ENTITY, FEATURE_NAMES, FEATURES_SCHEMA, LABEL, TIMESTAMP

if TYPE_CHECKING:
    from feast import FeatureStore

_ROW = "__entity_row"
_FEATURE_TS = "__feature_ts"
_MATCHED = "__matched"  # set on the rows of a day's partition: a left join leaves it null elsewhere


def point_in_time_join(
    entity_df: pl.DataFrame,
    offline_dir: Path,
    feature_names: Sequence[str],
    ttl: timedelta,
    feature_timestamp_column: str | None = None,
) -> pl.DataFrame:
    """Each entity row with the latest feature row of its segment in [ts - ttl, ts], else nulls.

    Keeps the entity rows and their order; `ttl` of zero means no look-back limit, as in Feast.
    `feature_timestamp_column`, if given, adds the matched row's timestamp under that name.
    """
    entity = _checked_entity(entity_df, offline_dir, feature_names, feature_timestamp_column)
    if not list(offline_dir.glob("*.parquet")):
        raise FileNotFoundError(
            f"no feature partitions in {offline_dir}; write them with offline.write_partition first"
        )
    micros = int(ttl / timedelta(microseconds=1))
    window = f"f.{_FEATURE_TS} >= e.{TIMESTAMP} - INTERVAL '{micros} microseconds'"
    within_ttl = "TRUE" if micros == 0 else window
    picked = [f'CASE WHEN {within_ttl} THEN f."{n}" END AS "{n}"' for n in feature_names]
    if feature_timestamp_column:
        picked.append(
            f'CASE WHEN {within_ttl} THEN f.{_FEATURE_TS} END AS "{feature_timestamp_column}"'
        )
    entity_columns = ", ".join(f'e."{c}"' for c in entity_df.columns)
    wanted = ", ".join(f'"{n}"' for n in feature_names)
    sql = f"""
        SELECT {entity_columns}, {", ".join(picked)}
        FROM entity AS e
        ASOF LEFT JOIN (
            SELECT {ENTITY}, {TIMESTAMP} AS {_FEATURE_TS}, {wanted}
            FROM read_parquet(?)
        ) AS f
        ON e.{ENTITY} = f.{ENTITY} AND e.{TIMESTAMP} >= f.{_FEATURE_TS}
        ORDER BY e.{_ROW}
    """
    with duckdb.connect() as con:
        # Results come back in UTC whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")
        con.register("entity", entity.to_arrow())
        joined = pl.from_arrow(con.sql(sql, params=[partition_glob(offline_dir)]).to_arrow_table())
    assert isinstance(joined, pl.DataFrame)
    return joined.with_columns(
        pl.col(TIMESTAMP).dt.cast_time_unit("us"),
        *[pl.col(n).cast(FEATURES_SCHEMA[n]) for n in feature_names],
    )


def point_in_time_join_by_day(
    entity_df: pl.DataFrame, offline_dir: Path, ttl: timedelta
) -> pl.DataFrame:
    """`point_in_time_join` of every feature, with the same result, one UTC day at a time.

    The offline store keeps one row per segment and target hour in the partition of its UTC day,
    and a feature row stamped exactly at the entity row's time is the one the point-in-time rule
    picks. So each day's entity rows are matched against that day's partition on (segment,
    hour), and only rows without such a match (a day without a partition, a segment without
    features, a time between hours) go through the ASOF join over the whole store. Time and
    memory follow the entity rows instead of the store's size. Entity rows keep their order.
    """
    if not list(offline_dir.glob("*.parquet")):
        raise FileNotFoundError(
            f"no feature partitions in {offline_dir}; write them with offline.write_partition first"
        )
    entity = _checked_entity(entity_df, offline_dir, FEATURE_NAMES, None)
    runs = _runs(entity.get_column(TIMESTAMP).dt.date())
    regrouped = len(runs) != len({day for day, _, _ in runs})  # a day in several blocks
    if regrouped:
        entity = entity.sort(TIMESTAMP, maintain_order=True)
        runs = _runs(entity.get_column(TIMESTAMP).dt.date())
    frames = [
        _join_day(entity.slice(offset, length), day, offline_dir, ttl)
        for day, offset, length in runs
    ]
    if not frames:
        return point_in_time_join(entity_df, offline_dir, FEATURE_NAMES, ttl)
    # No rechunk: the days stay separate chunks instead of being copied into one.
    joined = pl.concat(frames, rechunk=False)
    return (joined.sort(_ROW) if regrouped else joined).drop(_ROW)


def _runs(days: pl.Series) -> list[tuple[date, int, int]]:
    """(value, offset, length) of each block of equal consecutive values."""
    runs, offset = [], 0
    for value, length in zip(*_rle(days), strict=True):
        runs.append((value, offset, length))
        offset += length
    return runs


def _rle(values: pl.Series) -> tuple[list[Any], list[int]]:
    rle = values.rle().struct
    return rle.field("value").to_list(), rle.field("len").to_list()


def _join_day(entity: pl.DataFrame, day: date, offline_dir: Path, ttl: timedelta) -> pl.DataFrame:
    """One UTC day of (checked) entity rows with their features: exact (segment, hour) matches
    from the day's partition, the rest through `point_in_time_join`, in the rows' order."""
    path = partition_path(offline_dir, day)
    if path.exists():
        features = pl.read_parquet(path, columns=[ENTITY, TIMESTAMP, *FEATURE_NAMES])
        joined = entity.join(
            features.with_columns(
                pl.col(TIMESTAMP).dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
                *[pl.col(n).cast(FEATURES_SCHEMA[n]) for n in FEATURE_NAMES],
                pl.lit(True).alias(_MATCHED),
            ),
            on=[ENTITY, TIMESTAMP],
            how="left",
            maintain_order="left",
        )
        if joined.height == entity.height:  # else a partition repeats a key: the ASOF join decides
            found = joined.get_column(_MATCHED).is_not_null()
            joined = joined.drop(_MATCHED)
            if found.all():
                return joined
            return pl.concat(
                [joined.filter(found), _asof(entity.filter(~found), offline_dir, ttl)]
            ).sort(_ROW)
    return _asof(entity, offline_dir, ttl)


def _asof(entity: pl.DataFrame, offline_dir: Path, ttl: timedelta) -> pl.DataFrame:
    """`point_in_time_join` of checked entity rows, keeping their row numbers."""
    joined = point_in_time_join(entity.drop(_ROW), offline_dir, FEATURE_NAMES, ttl)
    return joined.with_columns(entity.get_column(_ROW)).select(entity.columns + list(FEATURE_NAMES))


def labelled_training_set(
    warehouse: Path, offline_dir: Path, start: datetime, end: datetime
) -> pl.DataFrame:
    """Labels (staged consumption of the target hours in [start, end)) joined point-in-time with
    the features each hour had: what training reads, and what a reproduction rebuilds. Rows are
    sorted by target hour, then segment; the join goes day by day (`point_in_time_join_by_day`).
    """
    from mlops_assets.feature_repo.repo import TTL
    from mlops_assets.lib import warehouse as staged

    labels = staged.read_window(
        warehouse, staged.STAGED_CONSUMPTION, start, end, ["segment_id", "hour_utc", LABEL]
    ).select(
        pl.col("segment_id").alias(ENTITY),
        pl.col("hour_utc").dt.replace_time_zone("UTC").alias(TIMESTAMP),
        pl.col(LABEL),
    )
    return point_in_time_join_by_day(labels.sort(TIMESTAMP, ENTITY), offline_dir, TTL)


def historical_features_feast(
    store: FeatureStore, entity_df: pl.DataFrame, features: Sequence[str] | Any
) -> pl.DataFrame:
    """Feast's `get_historical_features` (feature refs or a FeatureService), in contract dtypes.

    Feast does not keep the entity order and drops repeated entity rows; sort before comparing.
    """
    result = store.get_historical_features(
        entity_df=entity_df.to_pandas(), features=features
    ).to_df()
    # pandas turns a missing value into NaN and an int column with gaps into floats.
    frame = pl.from_pandas(result, nan_to_null=True)
    return frame.with_columns(
        pl.col(TIMESTAMP).dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        *[pl.col(c).cast(FEATURES_SCHEMA[c]) for c in frame.columns if c in FEATURE_NAMES],
    )


def online_features(
    store: FeatureStore, segment_ids: Sequence[str], features: Sequence[str] | Any
) -> pl.DataFrame:
    """The online store's current features for `segment_ids`, one row each, in request order."""
    response = store.get_online_features(
        features=features, entity_rows=[{ENTITY: s} for s in segment_ids]
    ).to_dict()
    frame = pl.DataFrame(response, strict=False)
    return frame.with_columns(
        *[pl.col(c).cast(FEATURES_SCHEMA[c]) for c in frame.columns if c in FEATURE_NAMES]
    )


def _checked_entity(
    entity_df: pl.DataFrame,
    offline_dir: Path,
    feature_names: Sequence[str],
    feature_timestamp_column: str | None,
) -> pl.DataFrame:
    where = f"point-in-time join over {offline_dir}"
    for column in (ENTITY, TIMESTAMP):
        if column not in entity_df.columns:
            raise ValueError(f"{where}: the entity frame needs a {column!r} column")
    ts_type = entity_df.schema[TIMESTAMP]
    if not isinstance(ts_type, pl.Datetime) or ts_type.time_zone is None:
        raise ValueError(
            f"{where}: entity column {TIMESTAMP!r} is {ts_type}; it must be a tz-aware datetime "
            "(a naive one would be read as UTC, silently shifting Danish local times)"
        )
    unknown = [n for n in feature_names if n not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"{where}: {unknown} are not features of the catalog in lib/features.py")
    clashes = set(entity_df.columns) & {*feature_names, feature_timestamp_column, _ROW}
    if clashes:
        raise ValueError(f"{where}: entity columns {sorted(clashes)} clash with output columns")
    return entity_df.with_columns(
        pl.col(ENTITY).cast(pl.String),
        pl.col(TIMESTAMP).dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
    ).with_row_index(_ROW)
