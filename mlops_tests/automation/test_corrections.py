"""A corrected day of staged actuals re-runs every forecast that reads it, and only those: the
message-based sensor takes the days from the partition mappings declared in the asset graph."""

import warnings
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pytest

from mlops_assets.defs.automation.sensors import build_sensors
from mlops_assets.lib import triggers
from mlops_assets.settings import Settings

STG_CONSUMPTION = dg.AssetKey(["staging", "stg_consumption"])
STG_FORECAST = dg.AssetKey(["staging", "stg_weather_forecast"])
FEATURES = dg.AssetKey("consumption_features")
PREDICTIONS = dg.AssetKey("batch_predictions")
PERFORMANCE = dg.AssetKey("prediction_performance")
MAX_DAYS_PER_RUN = 4


@pytest.fixture
def sensor(mlops_env: Settings, monkeypatch: pytest.MonkeyPatch) -> dg.SensorDefinition:
    monkeypatch.setenv("MLOPS_SENSOR_MAX_DAYS_PER_RUN", str(MAX_DAYS_PER_RUN))
    (found,) = [s for s in build_sensors(Settings.from_env()) if s.name == "inputs_complete_sensor"]
    return found


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey, *keys: str) -> None:
    for day in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))


def tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, definitions: dg.Definitions
) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(instance=instance, definitions=definitions)
    return list(sensor.evaluate_tick(context).run_requests or [])


def covered(requests: list[dg.RunRequest], job: str) -> list[str]:
    """The days the requests of `job` cover, checking each range is at most the cap."""
    out = []
    for request in requests:
        if request.job_name != job:
            continue
        first = request.tags["dagster/asset_partition_range_start"]
        last = request.tags["dagster/asset_partition_range_end"]
        assert len(days(first, last)) <= MAX_DAYS_PER_RUN
        out += days(first, last)
    return out


@pytest.fixture(scope="module")
def package_definitions() -> dg.Definitions:
    from mlops_assets.definitions import defs

    return defs()


def test_a_corrected_day_reruns_the_fifteen_forecasts_that_read_it_and_their_scores(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, package_definitions: dg.Definitions
) -> None:
    actuals = days("2025-03-01", "2025-03-20")
    forecasts = days("2025-03-02", "2025-03-21")
    materialized(instance, STG_CONSUMPTION, *actuals)
    materialized(instance, STG_FORECAST, *forecasts)
    materialized(instance, FEATURES, *forecasts)
    materialized(instance, PREDICTIONS, *forecasts)
    materialized(instance, PERFORMANCE, *forecasts[:-1])  # 03-21 has no actuals yet
    assert not tick(sensor, instance, package_definitions)

    materialized(instance, STG_CONSUMPTION, "2025-03-03")  # a corrected day C
    requests = tick(sensor, instance, package_definitions)

    # Features of D read the staged actuals D-15 .. D-1: C+1 .. C+15, no more, no less.
    assert covered(requests, "forecast_job") == days("2025-03-04", "2025-03-18")
    assert covered(requests, "daily_job") == ["2025-03-03"]  # C's own score
    for request in requests:
        assert request.tags["trigger"] == "message"
    again = tick(sensor, instance, package_definitions)
    # The same run keys: the daemon does not launch them twice.
    assert [r.run_key for r in again] == [r.run_key for r in requests]

    # The forecast runs go through: features and predictions of C+1 .. C+15 are new.
    materialized(instance, FEATURES, *days("2025-03-04", "2025-03-18"))
    materialized(instance, PREDICTIONS, *days("2025-03-04", "2025-03-18"))
    after_forecasts = tick(sensor, instance, package_definitions)
    assert covered(after_forecasts, "forecast_job") == []
    # Their forecasts are newer than their scores: every one is scored again.
    assert covered(after_forecasts, "daily_job") == days("2025-03-03", "2025-03-18")

    materialized(instance, PERFORMANCE, *days("2025-03-03", "2025-03-18"))
    assert not tick(sensor, instance, package_definitions)


def test_a_correction_near_the_newest_day_reruns_the_forecasts_that_exist(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, package_definitions: dg.Definitions
) -> None:
    forecasts = days("2025-03-02", "2025-03-21")
    materialized(instance, STG_CONSUMPTION, *days("2025-03-01", "2025-03-20"))
    materialized(instance, STG_FORECAST, *forecasts)
    materialized(instance, FEATURES, *forecasts)

    materialized(instance, STG_CONSUMPTION, "2025-03-12")
    requests = tick(sensor, instance, package_definitions)

    # C+1 .. C+15 reaches 03-27; the forecast days with their inputs staged end on 03-21.
    assert covered(requests, "forecast_job") == days("2025-03-13", "2025-03-21")


def _graph_with_window(lookback_days: int) -> dg.Definitions:
    """The sensor's inputs and the features asset, with a window of `lookback_days`."""
    actuals = dg.DailyPartitionsDefinition(start_date="2025-03-01")
    forecasts = dg.DailyPartitionsDefinition(start_date="2025-03-01", end_offset=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        window = dg.TimeWindowPartitionMapping(
            start_offset=-lookback_days, end_offset=-1, allow_nonexistent_upstream_partitions=True
        )
    return dg.Definitions(
        assets=[
            dg.AssetSpec(STG_CONSUMPTION, partitions_def=actuals),
            dg.AssetSpec(STG_FORECAST, partitions_def=forecasts),
            dg.AssetSpec(
                FEATURES,
                partitions_def=forecasts,
                deps=[
                    dg.AssetDep(STG_CONSUMPTION, partition_mapping=window),
                    dg.AssetDep(STG_FORECAST, partition_mapping=dg.TimeWindowPartitionMapping()),
                ],
            ),
        ]
    )


@pytest.mark.parametrize("lookback_days", [1, 3, 7])
def test_the_days_come_from_the_partition_mapping_in_the_graph(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, lookback_days: int
) -> None:
    definitions = _graph_with_window(lookback_days)
    forecasts = days("2025-03-02", "2025-03-21")
    materialized(instance, STG_CONSUMPTION, *days("2025-03-01", "2025-03-20"))
    materialized(instance, STG_FORECAST, *forecasts)
    materialized(instance, FEATURES, *forecasts)
    assert not tick(sensor, instance, definitions)

    materialized(instance, STG_CONSUMPTION, "2025-03-05")
    requests = tick(sensor, instance, definitions)

    last = (date(2025, 3, 5) + timedelta(days=lookback_days)).isoformat()
    assert covered(requests, "forecast_job") == days("2025-03-06", last)


def test_the_first_days_of_the_calendar_need_only_the_day_before(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance
) -> None:
    definitions = _graph_with_window(3)
    materialized(instance, STG_FORECAST, "2025-03-01", "2025-03-02")
    materialized(instance, STG_CONSUMPTION, "2025-03-01")

    requests = tick(sensor, instance, definitions)

    # 03-01 has no day before it in the calendar; 03-02 reads 03-01 alone (02-27 .. 02-28 do not
    # exist), and a later day waits for the day before it.
    assert covered(requests, "forecast_job") == ["2025-03-02"]
    materialized(instance, STG_FORECAST, "2025-03-04")
    materialized(instance, STG_CONSUMPTION, "2025-03-02")  # 03-03 is not staged yet
    assert covered(tick(sensor, instance, definitions), "forecast_job") == ["2025-03-02"]


def test_window_inputs_need_the_newest_day_of_the_window_and_take_the_newest_id() -> None:
    windows = {"d4": ["d1", "d2", "d3"], "d5": ["d2", "d3", "d4"], "d1": []}
    ids = {"d1": 7, "d3": 2}
    # d4 reads d1 .. d3, d3 is in (d2 is missing: fine); d5 needs d4; d1 reads nothing.
    assert triggers.window_inputs(ids, windows) == {"d4": 7}
