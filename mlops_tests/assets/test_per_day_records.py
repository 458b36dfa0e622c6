"""A range run records each day as soon as it is written: a crash part way through leaves the
days before it in the lake and recorded, and a clean range still runs its downstream steps."""

from datetime import date, timedelta

import dagster as dg
import pytest

from mlops_assets.defs.ingest import assets as ingest_assets
from mlops_assets.lib.lake import Lake
from mlops_assets.settings import Settings
from mlops_tests.helpers import CONSUMPTION_ONLY, materialize

RAW = dg.AssetKey("raw_consumption")
STAGED = dg.AssetKey(["staging", "stg_consumption"])
FIRST = date(2025, 3, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(4)]
ROWS_PER_DAY = 24 * 76


def _records(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[dg.EventLogRecord]:
    return list(instance.fetch_materializations(key, limit=100, ascending=True).records)


def test_a_crash_on_day_three_leaves_days_one_and_two_recorded(
    mlops_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest_assets.ingest_day

    def crash_on_day_three(schema, day, *args, **kwargs):
        if day == DAYS[2]:
            raise OSError("disk went away")
        return real(schema, day, *args, **kwargs)

    monkeypatch.setattr(ingest_assets, "ingest_day", crash_on_day_three)
    instance = dg.DagsterInstance.ephemeral()

    result = materialize(
        mlops_env,
        days=(DAYS[0].isoformat(), DAYS[-1].isoformat()),
        selection=CONSUMPTION_ONLY,
        instance=instance,
    )

    assert not result.success
    written = {d.isoformat() for d in DAYS[:2]}
    assert Lake(mlops_env.lake_dir).days("raw_consumption") == DAYS[:2]
    assert instance.get_materialized_partitions(RAW) == written
    records = _records(instance, RAW)
    assert [r.partition_key for r in records] == sorted(written)
    for record in records:  # each record describes its own day, not the range
        meta = record.asset_materialization.metadata  # type: ignore[union-attr]
        assert meta["dagster/row_count"].value == ROWS_PER_DAY
        assert meta["first_hour"].value.startswith(record.partition_key)
    assert not instance.get_materialized_partitions(STAGED)  # the step failed: nothing staged


def test_a_clean_range_records_each_day_and_runs_downstream(mlops_env: Settings) -> None:
    instance = dg.DagsterInstance.ephemeral()
    keys = [d.isoformat() for d in DAYS]

    result = materialize(
        mlops_env, days=(keys[0], keys[-1]), selection=CONSUMPTION_ONLY, instance=instance
    )

    assert result.success
    assert instance.get_materialized_partitions(STAGED) == set(keys)
    # Days 1..3 once as written, then every day once more with the step output (Dagster records
    # an output for every partition of the range); the last day by the output only.
    records = _records(instance, RAW)
    assert [r.partition_key for r in records] == [*keys[:-1], *keys]
    as_written, by_output = records[:3], records[3:]
    for record in as_written:
        meta = record.asset_materialization.metadata  # type: ignore[union-attr]
        assert meta["dagster/row_count"].value == ROWS_PER_DAY
        assert "range" not in meta
    for record in by_output:  # the latest record: the day's own figures and the range summary
        materialization = record.asset_materialization
        assert materialization is not None
        meta = materialization.metadata
        assert meta["dagster/row_count"].value == ROWS_PER_DAY
        assert meta["first_hour"].value.startswith(record.partition_key)
        assert meta["range"].value == f"{keys[0]}..{keys[-1]}"
        assert meta["range_days"].value == 4
        assert meta["range_rows"].value == 4 * ROWS_PER_DAY
        assert "dagster/data_version" in materialization.tags


def test_a_one_day_run_records_its_day_once(mlops_env: Settings) -> None:
    instance = dg.DagsterInstance.ephemeral()

    assert materialize(
        mlops_env, DAYS[0].isoformat(), selection=CONSUMPTION_ONLY, instance=instance
    ).success

    (record,) = _records(instance, RAW)
    meta = record.asset_materialization.metadata  # type: ignore[union-attr]
    assert meta["dagster/row_count"].value == ROWS_PER_DAY
    assert "range" not in meta
