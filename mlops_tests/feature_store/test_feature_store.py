"""The feature repo against real local Feast: definitions, point-in-time joins, online skew."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.feature_repo.offline import FEATURE_VIEW, offline_dir, write_partition
from mlops_assets.feature_repo.repo import (
    FEATURE_SERVICE,
    ON_DEMAND_VIEW,
    OWNER,
    TAGS,
    TTL,
    repo_fingerprint,
)
from mlops_assets.feature_repo.retrieval import (
    historical_features_feast,
    labelled_training_set,
    online_features,
    point_in_time_join,
    point_in_time_join_by_day,
)
from mlops_assets.feature_repo.store import (
    apply_repo,
    feature_store,
    materialize_day,
    materialize_day_feast,
    repo_config,
    repo_settings,
)
from mlops_assets.lib.features import ENTITY, FEATURE_NAMES, FEATURES, FEATURES_SCHEMA, TIMESTAMP

DAYS = [date(2025, 3, 3) + timedelta(days=i) for i in range(5)]
SEGMENTS = [f"DK{1 + i % 2}-{i}" for i in range(8)]
LATE_STARTER = SEGMENTS[1]  # no rows before the third day
GOES_QUIET = SEGMENTS[2]  # no rows after the first day, so its rows fall out of the TTL
REFS = [f"{FEATURE_VIEW}:{name}" for name in FEATURE_NAMES]


def feature_rows(seed: int = 7) -> pl.DataFrame:
    """Random rows satisfying FEATURES_SCHEMA, with gaps; `temperature_c` encodes the hour."""
    rng = np.random.default_rng(seed)
    start = datetime.combine(DAYS[0], datetime.min.time(), tzinfo=UTC)
    hours = pl.datetime_range(
        start, start + timedelta(days=len(DAYS), hours=-1), "1h", time_unit="us", eager=True
    )
    grid = pl.DataFrame({ENTITY: SEGMENTS}).join(pl.DataFrame({TIMESTAMP: hours}), how="cross")
    grid = grid.filter(
        pl.Series(rng.random(grid.height) > 0.2)  # gaps between feature rows
        & ~((pl.col(ENTITY) == LATE_STARTER) & (pl.col(TIMESTAMP) < start + timedelta(days=2)))
        & ~((pl.col(ENTITY) == GOES_QUIET) & (pl.col(TIMESTAMP) >= start + timedelta(days=1)))
    )
    n = grid.height
    columns: dict[str, pl.Series] = {}
    for spec in FEATURES:
        if spec.dtype == pl.String():
            values = pl.Series(spec.name, rng.choice(["DK1", "DK2"], n), pl.String)
        elif spec.dtype == pl.Int64():
            values = pl.Series(spec.name, rng.integers(0, 40, n), pl.Int64)
        else:
            values = pl.Series(spec.name, rng.uniform(1.0, 1000.0, n), pl.Float64)
        columns[spec.name] = values
    frame = grid.with_columns(**columns).with_columns(
        # Missing lags, as in the first weeks of history.
        lag_48h=pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise(pl.col("lag_48h")),
        temperature_c=pl.col(TIMESTAMP).dt.epoch("s").cast(pl.Float64),
    )
    return frame.select(list(FEATURES_SCHEMA))


def write_days(root: Path, frame: pl.DataFrame, days: list[date] = DAYS) -> None:
    for day in days:
        write_partition(offline_dir(root), day, frame.filter(pl.col(TIMESTAMP).dt.date() == day))


@pytest.fixture
def rows() -> pl.DataFrame:
    return feature_rows()


@pytest.fixture
def store(tmp_path: Path, rows: pl.DataFrame):
    root = tmp_path / "feature_store"
    write_days(root, rows)
    fs = feature_store(root)
    apply_repo(fs, root)
    return fs


def entity_rows(n: int, seed: int = 3) -> pl.DataFrame:
    """Unique entity rows from before the first feature row to after the TTL of the last."""
    rng = np.random.default_rng(seed)
    first = datetime.combine(DAYS[0], datetime.min.time(), tzinfo=UTC) - timedelta(hours=6)
    span = int((len(DAYS) + 3) * 24 * 3600)
    frame = pl.DataFrame(
        {
            ENTITY: rng.choice([*SEGMENTS, "DK1-unknown"], n),
            TIMESTAMP: [first + timedelta(seconds=int(s)) for s in rng.integers(0, span, n)],
            "label": rng.uniform(0, 1, n),
        }
    ).with_columns(pl.col(TIMESTAMP).dt.cast_time_unit("us"))
    # Exactly on a feature hour too, where the row of that very hour must be picked.
    on_hour = frame.head(n // 4).with_columns(pl.col(TIMESTAMP).dt.truncate("1h"))
    return pl.concat([on_hour, frame.slice(n // 4)]).unique([ENTITY, TIMESTAMP], keep="first")


def reference_join(entity: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The rule written out: latest row of the segment with ts - TTL <= feature ts <= ts."""
    joined = entity.join(rows.rename({TIMESTAMP: "feature_ts"}), on=ENTITY, how="left")
    valid = joined.filter(
        (pl.col("feature_ts") <= pl.col(TIMESTAMP))
        & (pl.col("feature_ts") >= pl.col(TIMESTAMP) - TTL)
    )
    latest = valid.sort("feature_ts").group_by(ENTITY, TIMESTAMP).last()
    return entity.join(latest.drop("label"), on=[ENTITY, TIMESTAMP], how="left")


def test_apply_registers_the_view_with_every_feature_and_its_metadata(store) -> None:
    (view,) = [v for v in store.list_feature_views() if v.name == FEATURE_VIEW]
    assert [f.name for f in view.features] == list(FEATURE_NAMES)
    assert {f.name: f.description for f in view.features} == {
        f.name: f.description for f in FEATURES
    }
    assert {f.name: str(f.dtype) for f in view.features}["consumer_type"] == "Int64"
    assert view.owner == OWNER
    assert view.tags == TAGS
    assert view.ttl == TTL
    assert view.online
    assert [e for e in view.entities] == ["segment"]
    assert [v.name for v in store.list_on_demand_feature_views()] == [ON_DEMAND_VIEW]
    service = store.get_feature_service(FEATURE_SERVICE)
    assert {p.name for p in service.feature_view_projections} == {FEATURE_VIEW, ON_DEMAND_VIEW}


def test_fingerprint_is_stable_and_names_the_definitions() -> None:
    assert repo_fingerprint() == repo_fingerprint()
    assert len(repo_fingerprint()) == 16


def test_fast_join_equals_feast_historical_features(store, rows: pl.DataFrame) -> None:
    entity = entity_rows(400)
    ours = point_in_time_join(
        entity,
        offline_dir(Path(store.config.repo_path)),
        FEATURE_NAMES,
        TTL,
        feature_timestamp_column="feature_ts",
    )
    key = [ENTITY, TIMESTAMP]
    # The rule written out in polars, on every case: gaps, before the first row, past the TTL,
    # unknown segments.
    expected = reference_join(entity, rows)
    assert expected.select(ours.columns).sort(key).equals(ours.sort(key))
    unmatched = ours.filter(pl.col("feature_ts").is_null())
    assert unmatched.filter(pl.col(ENTITY) == "DK1-unknown").height > 0
    assert unmatched.filter(pl.col(ENTITY) == GOES_QUIET).height > 0
    assert unmatched.filter(pl.col(ENTITY) == LATE_STARTER).height > 0
    assert unmatched.select(FEATURE_NAMES).null_count().row(0) == (unmatched.height,) * len(
        FEATURE_NAMES
    )

    # Feast's file store crashes on a segment it has never seen when the source has several
    # files, and drops (rather than nulls) entity rows without a row inside the TTL.
    known = entity.filter(pl.col(ENTITY) != "DK1-unknown")
    feast = historical_features_feast(store, known, REFS)
    ours_known = ours.filter(pl.col(ENTITY) != "DK1-unknown")
    matched = ours_known.filter(pl.col("feature_ts").is_not_null()).drop("feature_ts")
    assert feast.select(matched.columns).sort(key).equals(matched.sort(key))
    assert 0 < matched.height < ours_known.height


def test_fast_join_keeps_entity_order_and_never_looks_ahead(tmp_path: Path, rows) -> None:
    root = tmp_path / "fs"
    write_days(root, rows)
    entity = entity_rows(2000, seed=11)
    joined = point_in_time_join(
        entity, offline_dir(root), ["temperature_c"], TTL, feature_timestamp_column="feature_ts"
    )
    assert joined.select(entity.columns).equals(entity)
    matched = joined.filter(pl.col("feature_ts").is_not_null())
    assert matched.height > 1000
    assert (matched.get_column("feature_ts") <= matched.get_column(TIMESTAMP)).all()
    assert (matched.get_column("feature_ts") >= matched.get_column(TIMESTAMP) - TTL).all()
    # The value itself carries its hour, so the value (not only its stamp) is from the past.
    stamped = matched.get_column(TIMESTAMP).dt.epoch("s").cast(pl.Float64)
    assert (matched.get_column("temperature_c") <= stamped).all()
    assert matched.get_column("temperature_c").equals(
        matched.get_column("feature_ts").dt.epoch("s").cast(pl.Float64), check_names=False
    )


def staged_labels(warehouse: Path, hours: int) -> pl.DataFrame:
    """Every segment (and one without features) x `hours` hours from the first day, with a label,
    staged in a DuckDB warehouse as dbt would; returns them as the entity frame."""
    import duckdb

    from mlops_assets.lib.features import LABEL
    from mlops_assets.lib.warehouse import STAGED_CONSUMPTION

    start = datetime.combine(DAYS[0], datetime.min.time())
    grid = (
        pl.DataFrame({"segment_id": [*SEGMENTS, "DK1-unknown"]})
        .join(
            pl.DataFrame(
                {
                    "hour_utc": pl.datetime_range(
                        start, start + timedelta(hours=hours - 1), "1h", eager=True
                    )
                }
            ),
            how="cross",
        )
        .with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias(LABEL))
        .sample(fraction=1.0, shuffle=True, seed=5)  # the warehouse keeps no order
    )
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema staging")
        con.register("grid", grid.to_arrow())
        con.execute(f"create table {STAGED_CONSUMPTION} as select * from grid")
    return grid.select(
        pl.col("segment_id").alias(ENTITY),
        pl.col("hour_utc").dt.replace_time_zone("UTC").dt.cast_time_unit("us").alias(TIMESTAMP),
        pl.col(LABEL),
    )


def test_training_set_goes_day_by_day_and_equals_one_join_of_every_label(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    """The day-by-day join (exact matches from each day's partition, the rest through the ASOF
    join) gives what one ASOF join of all labels gives: gaps, a missing day, a segment without
    features, a late starter and a segment whose rows fall out of the TTL included."""
    root = tmp_path / "feature_store"
    missing_day = DAYS[3]  # its labels fall back to the previous days' rows within the TTL
    write_days(root, rows, [d for d in DAYS if d != missing_day])
    warehouse = tmp_path / "warehouse.duckdb"
    labels = staged_labels(warehouse, 24 * (len(DAYS) + 1))  # one day past the last partition
    start = datetime.combine(DAYS[0], datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=len(DAYS) + 1)

    ours = labelled_training_set(warehouse, offline_dir(root), start, end)

    expected = point_in_time_join(
        labels.sort(TIMESTAMP, ENTITY), offline_dir(root), FEATURE_NAMES, TTL
    )
    assert ours.columns == expected.columns
    assert ours.equals(expected)
    assert ours.get_column(TIMESTAMP).is_sorted()
    on_missing_day = ours.filter(pl.col(TIMESTAMP).dt.date() == missing_day)
    assert 0 < on_missing_day.get_column("lag_24h").null_count() < on_missing_day.height


def test_join_by_day_equals_one_join_for_any_entity_rows(tmp_path: Path, rows) -> None:
    """Entity rows in any order, between hours, before the first and after the last partition,
    of an unknown segment, around a missing day: the same rows and order as one ASOF join."""
    root = tmp_path / "feature_store"
    write_days(root, rows, [d for d in DAYS if d != DAYS[2]])
    entity = entity_rows(600)
    expected = point_in_time_join(entity, offline_dir(root), FEATURE_NAMES, TTL)
    assert point_in_time_join_by_day(entity, offline_dir(root), TTL).equals(expected)
    ordered = entity.sort(TIMESTAMP)
    assert point_in_time_join_by_day(ordered, offline_dir(root), TTL).equals(
        point_in_time_join(ordered, offline_dir(root), FEATURE_NAMES, TTL)
    )


def test_fast_join_rejects_naive_timestamps(tmp_path: Path, rows) -> None:
    write_days(tmp_path, rows)
    naive = entity_rows(10).with_columns(pl.col(TIMESTAMP).dt.replace_time_zone(None))
    with pytest.raises(ValueError, match="tz-aware"):
        point_in_time_join(naive, offline_dir(tmp_path), ["lag_24h"], TTL)


def expected_online(rows: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    window = rows.filter(pl.col(TIMESTAMP).is_between(start, end))
    return window.sort(TIMESTAMP).group_by(ENTITY).last().drop(TIMESTAMP)


def assert_online_matches(store, rows: pl.DataFrame, day: date) -> None:
    start = datetime.combine(DAYS[0], datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    expected = expected_online(rows, start, end - timedelta(microseconds=1))
    sample = [s for s in SEGMENTS if s in expected.get_column(ENTITY).to_list()]
    online = online_features(store, sample, REFS)
    wanted = expected.filter(pl.col(ENTITY).is_in(sample)).sort(ENTITY)
    assert online.select(wanted.columns).sort(ENTITY).equals(wanted)


def test_online_features_equal_offline_after_each_materialized_day(store, rows) -> None:
    materialize_day(store, DAYS[0])
    assert_online_matches(store, rows, DAYS[0])
    materialize_day(store, DAYS[1])
    assert_online_matches(store, rows, DAYS[1])
    # A segment without rows in the window keeps what an earlier window loaded.
    quiet = online_features(store, [GOES_QUIET], [f"{FEATURE_VIEW}:temperature_c"])
    last_quiet = rows.filter(pl.col(ENTITY) == GOES_QUIET).get_column("temperature_c").max()
    assert quiet.get_column("temperature_c").to_list() == [last_quiet]

    before = online_table(store)
    # One row per segment and feature; the late starter has none yet.
    assert len(before) == (len(SEGMENTS) - 1) * len(FEATURE_NAMES)
    materialize_day(store, DAYS[1])
    assert online_table(store) == before
    assert_online_matches(store, rows, DAYS[1])


def test_materialize_day_writes_what_feast_materialize_writes(tmp_path: Path, rows) -> None:
    """Our load of a day (its partition's latest row per segment, written through Feast's
    write_to_online_store) leaves the online table byte for byte as Feast's own materialize of
    the day's window leaves it, and records the same interval."""
    stores = []
    for name in ("ours", "feast"):
        root = tmp_path / name
        write_days(root, rows)
        store = feature_store(root)
        apply_repo(store, root)
        stores.append(store)
    ours, feast = stores
    for day in DAYS[:3]:
        assert materialize_day(ours, day) > 0
        materialize_day_feast(feast, day)
        assert online_table(ours) == online_table(feast)
    intervals = [s.get_feature_view(FEATURE_VIEW).materialization_intervals for s in (ours, feast)]
    assert intervals[0] == intervals[1] and len(intervals[0]) == 3
    assert materialize_day(ours, DAYS[-1] + timedelta(days=3)) == 0  # no partition: nothing


def online_table(store) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(Path(store.config.online_store.path)) as conn:
        return conn.execute(
            "SELECT entity_key, feature_name, value, event_ts FROM "
            f"{store.project}_{FEATURE_VIEW} ORDER BY entity_key, feature_name"
        ).fetchall()


def test_on_demand_features_follow_the_formula(store, rows) -> None:
    materialize_day(store, DAYS[2])
    refs = [
        f"{FEATURE_VIEW}:lag_24h",
        f"{FEATURE_VIEW}:rolling_mean_168h",
        f"{FEATURE_VIEW}:rolling_std_168h",
        f"{ON_DEMAND_VIEW}:lag_24h_vs_week",
        f"{ON_DEMAND_VIEW}:lag_24h_anomaly",
    ]
    online = online_features(store, SEGMENTS, refs).filter(pl.col("lag_24h").is_not_null())
    assert online.height >= len(SEGMENTS) - 1
    for row in online.iter_rows(named=True):
        mean, std = row["rolling_mean_168h"], row["rolling_std_168h"]
        assert math.isclose(row["lag_24h_vs_week"], row["lag_24h"] / mean, rel_tol=1e-12)
        assert math.isclose(row["lag_24h_anomaly"], (row["lag_24h"] - mean) / std, rel_tol=1e-12)

    entity = entity_rows(50).filter(pl.col(ENTITY) != "DK1-unknown")
    offline = historical_features_feast(store, entity, store.get_feature_service(FEATURE_SERVICE))
    offline = offline.filter(pl.col("lag_24h").is_not_null())
    assert offline.height > 10
    ratio = offline.get_column("lag_24h") / offline.get_column("rolling_mean_168h")
    assert (offline.get_column("lag_24h_vs_week") - ratio).abs().max() < 1e-12


def test_store_config_defaults_to_sqlite_and_a_file_registry_in_the_dir(tmp_path: Path) -> None:
    config = repo_config(tmp_path)
    assert config.online_store.type == "sqlite"
    assert Path(config.online_store.path) == tmp_path.resolve() / "online.db"
    assert config.registry.registry_type == "file"
    assert Path(config.registry.path) == tmp_path.resolve() / "registry.db"
    assert config.offline_store.type == "file"
    assert config.entity_key_serialization_version == 3

    url = "redis://localhost:6379"
    redis = repo_settings(tmp_path, online_redis=url)["online_store"]
    assert redis == {"type": "redis", "connection_string": url}
    # Feast validates a Redis config by importing the client (feast[redis]); never connects.
    if importlib.util.find_spec("redis") is None:
        with pytest.raises(RuntimeError, match=r"feast\[redis\]"):
            repo_config(tmp_path, online_redis=url)
    else:
        assert repo_config(tmp_path, online_redis=url).online_store.type == "redis"

    sql = repo_config(tmp_path, registry=f"sqlite:///{tmp_path}/registry.sqlite")
    assert sql.registry.registry_type == "sql"
    assert sql.registry.path == f"sqlite:///{tmp_path}/registry.sqlite"


def test_write_partition_replaces_a_day_and_rejects_rows_of_another_day(
    tmp_path: Path, rows
) -> None:
    day = rows.filter(pl.col(TIMESTAMP).dt.date() == DAYS[0])
    path = write_partition(tmp_path, DAYS[0], day)
    write_partition(tmp_path, DAYS[0], day)
    assert pl.read_parquet(path).height == day.height
    assert [p.name for p in tmp_path.iterdir()] == [f"{DAYS[0]}.parquet"]
    stored = pl.read_parquet_schema(path)[TIMESTAMP]
    assert stored == pl.Datetime("us", "UTC")
    with pytest.raises(ValueError, match="outside the UTC day 2025-03-04"):
        write_partition(tmp_path, DAYS[1], day)


def test_importing_the_repo_modules_does_not_import_feast() -> None:
    code = (
        "import sys, mlops_assets.feature_repo.store, mlops_assets.feature_repo.repo, "
        "mlops_assets.feature_repo.retrieval, mlops_assets.feature_repo.offline; "
        "print(sorted(m for m in sys.modules if m == 'feast' or m.startswith('feast.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
