"""The raw assets and dbt staging, materialized with Dagster on temporary folders."""

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.lib.generator import Drift, GeneratorConfig, generate_consumption
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.schema import CONSUMPTION, WEATHER
from mlops_assets.lib.validation import day_window
from mlops_assets.settings import Settings
from mlops_tests.eds_server import FakeEnergiDataService, Reply
from mlops_tests.helpers import CONSUMPTION_ONLY, land, materialize, warehouse_rows

DAY = "2025-03-10"


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return result.asset_materializations_for_node(asset)[0].metadata


def test_generator_day_lands_in_lake_and_staging_with_metadata(mlops_env: Settings) -> None:
    result = materialize(mlops_env, DAY)

    assert result.success
    lake = Lake(mlops_env.lake_dir)
    consumption = lake.read("raw_consumption", [date.fromisoformat(DAY)])
    assert consumption is not None and consumption.schema == pl.Schema(CONSUMPTION.columns)
    assert consumption.height == 24 * 2 * 38
    meta = _metadata(result, "raw_consumption")
    assert meta["dagster/row_count"].value == 24 * 2 * 38
    assert meta["segments"].value == 76
    assert meta["missing_hours"].value == 0
    assert meta["first_hour"].value == "2025-03-10T00:00:00+00:00"
    assert meta["last_hour"].value == "2025-03-10T23:00:00+00:00"
    assert 0 < meta["TotalCon_min"].value < meta["TotalCon_mean"].value < meta["TotalCon_max"].value
    assert _metadata(result, "raw_weather")["dagster/row_count"].value == 48
    assert warehouse_rows(mlops_env, "stg_consumption") == 24 * 76
    assert warehouse_rows(mlops_env, "stg_weather") == 48
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    for rule in ("schema", "uniqueness", "completeness", "validity", "timeliness"):
        assert checks[rule] is True
    # dbt tests arrive as asset checks too.
    assert any(name.startswith("not_null_stg_consumption") for name in checks)


def test_rematerializing_a_day_replaces_it_exactly(mlops_env: Settings) -> None:
    assert materialize(mlops_env, DAY).success
    path = Lake(mlops_env.lake_dir).partition_path("raw_consumption", date.fromisoformat(DAY))
    first = path.read_bytes()

    assert materialize(mlops_env, DAY).success

    assert path.read_bytes() == first
    assert warehouse_rows(mlops_env, "stg_consumption") == 24 * 76


def test_single_run_range_records_every_partition(mlops_env: Settings) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(mlops_env, days=("2025-03-01", "2025-03-04"), instance=instance)

    assert result.success
    assert len(instance.get_runs()) == 1
    expected = {"2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"}
    for key in (dg.AssetKey("raw_consumption"), dg.AssetKey(["staging", "stg_weather"])):
        assert instance.get_materialized_partitions(key) == expected
    assert Lake(mlops_env.lake_dir).days("raw_weather") == [
        date.fromisoformat(d) for d in sorted(expected)
    ]
    assert warehouse_rows(mlops_env, "stg_consumption") == 4 * 24 * 76


def test_landing_files_in_every_format_are_ingested(landing_env: Settings) -> None:
    days = ["2025-01-06", "2025-01-07", "2025-01-08"]
    for day, fmt in zip(days, ("csv", "parquet", "json"), strict=True):
        land(landing_env, date.fromisoformat(day), fmt)

    result = materialize(landing_env, days=(days[0], days[-1]), selection=CONSUMPTION_ONLY)

    assert result.success, result.all_events
    frame = Lake(landing_env.lake_dir).read("raw_consumption", map(date.fromisoformat, days))
    assert frame is not None and frame.height == 3 * 24 * 2 * 4
    assert warehouse_rows(landing_env, "stg_consumption", days) == 3 * 24 * 2 * 4
    assert not landing_env.quarantine_dir.exists()


def test_skew_check_warns_without_blocking(landing_env: Settings) -> None:
    drifted = GeneratorConfig(
        n_consumer_types=4, drift=(Drift(start=date(2025, 1, 11), level_shift=1.0),)
    )
    plain = GeneratorConfig(n_consumer_types=4)
    instance = dg.DagsterInstance.ephemeral()
    for day in range(3, 11):
        land(landing_env, date(2025, 1, day), config=plain)
    land(landing_env, date(2025, 1, 11), config=drifted)
    history = materialize(
        landing_env,
        days=("2025-01-03", "2025-01-10"),
        selection=CONSUMPTION_ONLY,
        instance=instance,
    )
    assert history.success

    result = materialize(landing_env, "2025-01-11", selection=CONSUMPTION_ONLY, instance=instance)

    assert result.success
    skew = next(c for c in result.get_asset_check_evaluations() if c.check_name == "value_skew")
    assert skew.passed is False
    assert skew.severity == dg.AssetCheckSeverity.WARN
    assert skew.metadata["max_abs_z"].value > 4
    assert warehouse_rows(landing_env, "stg_consumption", ["2025-01-11"]) == 24 * 2 * 4


def test_weather_asset_uses_weather_schema(mlops_env: Settings) -> None:
    result = materialize(mlops_env, DAY, selection=dg.AssetSelection.assets("raw_weather"))
    assert result.success
    frame = Lake(mlops_env.lake_dir).read("raw_weather", [date.fromisoformat(DAY)])
    assert frame is not None and frame.schema == pl.Schema(WEATHER.columns)


def test_api_source_ingests_the_energi_data_service_response(
    mlops_env: Settings, eds: FakeEnergiDataService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_SOURCE", "api")
    monkeypatch.setenv("MLOPS_API_BASE_URL", eds.url)
    day_start, day_end = day_window(date.fromisoformat(DAY))
    # The client asks for two extra hours each side; the server answers with all of them.
    served = generate_consumption(
        day_start - timedelta(hours=2),
        day_end + timedelta(hours=2),
        GeneratorConfig(n_consumer_types=3),
    )
    records = served.with_columns(
        pl.col("HourUTC").dt.strftime("%Y-%m-%dT%H:%M:%S"),
        pl.col("HourDK").dt.strftime("%Y-%m-%dT%H:%M:%S"),
    ).to_dicts()
    body = {
        "total": len(records),
        "limit": 10000,
        "dataset": "ConsumptionDE35Hour",
        "records": records,
    }
    eds.default = Reply(body=json.dumps(body).encode())

    result = materialize(Settings.from_env(), DAY, selection=CONSUMPTION_ONLY)

    assert result.success
    assert eds.received and eds.received[0].path == "/dataset/ConsumptionDE35Hour"
    frame = Lake(mlops_env.lake_dir).read("raw_consumption", [date.fromisoformat(DAY)])
    expected = served.filter(pl.col("HourUTC").is_between(day_start, day_end, closed="left"))
    assert frame is not None and frame.equals(expected.sort(list(CONSUMPTION.key)))
    origin = _metadata(result, "raw_consumption")["origin"].value
    assert origin.startswith(eds.url)


def test_relative_data_dir_keeps_lake_and_warehouse_together(
    mlops_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_DATA_DIR", "relative_data")
    settings = Settings.from_env()

    assert materialize(settings, DAY).success

    assert settings.warehouse_path == tmp_path / "relative_data" / "warehouse.duckdb"
    assert warehouse_rows(settings, "stg_weather") == 48
