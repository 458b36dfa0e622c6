"""Sensors evaluated tick by tick with `build_sensor_context` and their cursors, on a real
ephemeral instance; the decisions underneath (`lib/triggers.py`) tested as plain functions."""

import json
import os
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest

from mlops_assets.defs.automation.sensors import build_sensors, write_alert
from mlops_assets.lib import triggers
from mlops_assets.settings import Settings

STG_CONSUMPTION = dg.AssetKey(["staging", "stg_consumption"])
STG_WEATHER = dg.AssetKey(["staging", "stg_weather"])
STG_FORECAST = dg.AssetKey(["staging", "stg_weather_forecast"])


@pytest.fixture
def sensors(mlops_env: Settings) -> dict[str, dg.SensorDefinition]:
    return {s.name: s for s in build_sensors(Settings.from_env())}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None):
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def land(folder: Path, *names: str, mtime: float | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.write_text("HourUTC\n")
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


# --- push: the landing zone ----------------------------------------------------------------------


def test_new_files_request_their_dataset_and_days_once(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["landing_zone_sensor"]
    land(
        mlops_env.landing_dir,
        "consumption_2025-03-01.csv",
        "consumption_2025-03-02.csv",
        "weather_2025-03-02.parquet",
    )

    first = tick(sensor, instance)

    requests = {tuple(k.to_user_string() for k in r.asset_selection): r for r in first.run_requests}
    consumption = requests[("raw_consumption", "staging/stg_consumption")]
    assert consumption.tags["dagster/asset_partition_range_start"] == "2025-03-01"
    assert consumption.tags["dagster/asset_partition_range_end"] == "2025-03-02"
    assert consumption.tags["trigger"] == "push"
    weather = requests[("raw_weather", "staging/stg_weather")]
    assert weather.tags["dagster/asset_partition_range_start"] == "2025-03-02"

    again = tick(sensor, instance, first.cursor)
    assert not again.run_requests and again.cursor == first.cursor

    # A re-sent file (newer mtime) is new again: its day is ingested again, nothing else.
    land(mlops_env.landing_dir, "weather_2025-03-02.parquet")
    resent = tick(sensor, instance, first.cursor)
    assert [r.tags["dagster/asset_partition_range_start"] for r in resent.run_requests] == [
        "2025-03-02"
    ]
    assert len({r.run_key for r in [*first.run_requests, *resent.run_requests]}) == 3


def test_a_file_moved_in_with_an_old_mtime_still_counts_as_new(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["landing_zone_sensor"]
    land(mlops_env.landing_dir, "consumption_2025-03-01.csv")
    first = tick(sensor, instance)
    written_earlier = mlops_env.data_dir / "outbox" / "weather_2025-03-01.csv"
    land(written_earlier.parent, written_earlier.name, mtime=1_600_000_000)  # an old file
    written_earlier.rename(mlops_env.landing_dir / written_earlier.name)  # `mv` keeps the mtime

    moved = tick(sensor, instance, first.cursor)

    assert [r.asset_selection[0].to_user_string() for r in moved.run_requests] == ["raw_weather"]


def test_bad_file_names_are_skipped_with_a_reason_and_never_crash(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    land(
        mlops_env.landing_dir,
        "notes.txt",
        "consumption_2025-02-30.csv",
        "prices_2025-03-01.csv",
        "weather_2025-03-01.csv",
    )
    batch = triggers.scan_landing(
        triggers.list_landing(mlops_env.landing_dir),
        triggers.Watermark(),
        max_runs=8,
        max_days_per_run=31,
    )
    reasons = dict(batch.skipped)
    assert "does not follow" in reasons["notes.txt"]
    assert "not a date" in reasons["consumption_2025-02-30.csv"]
    assert "unknown dataset 'prices'" in reasons["prices_2025-03-01.csv"]
    result = tick(sensors["landing_zone_sensor"], instance)
    assert [r.asset_selection[0].to_user_string() for r in result.run_requests] == ["raw_weather"]


def test_five_hundred_files_become_a_bounded_number_of_runs(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["landing_zone_sensor"]
    names = [
        f"{ds}_{d}.csv" for d in days(date(2024, 1, 1), 250) for ds in ("consumption", "weather")
    ]
    land(mlops_env.landing_dir, *names, mtime=1_700_000_000)

    requested, cursor, ticks = [], None, 0
    while True:
        result = tick(sensor, instance, cursor)
        ticks += 1
        if not result.run_requests:
            break
        assert len(result.run_requests) <= mlops_env.monitoring.sensor_max_runs_per_tick
        requested.extend(result.run_requests)
        cursor = result.cursor

    covered = {
        (r.asset_selection[0].to_user_string(), r.tags["dagster/asset_partition_range_start"])
        for r in requested
    }
    assert len(requested) == 2 * 9  # 250 days in ranges of at most 31 days, per dataset
    assert len(covered) == len(requested) and ticks == 4
    spans = [
        (
            date.fromisoformat(r.tags["dagster/asset_partition_range_end"])
            - date.fromisoformat(r.tags["dagster/asset_partition_range_start"])
        ).days
        + 1
        for r in requested
    ]
    assert sum(spans) == 500 and max(spans) <= 31


def test_day_ranges_are_contiguous_and_capped() -> None:
    d = date(2025, 1, 1)
    picked = [d, d + timedelta(1), d + timedelta(2), d + timedelta(5), d + timedelta(6)]
    assert triggers.day_ranges(picked, 2) == [
        (d, d + timedelta(1)),
        (d + timedelta(2), d + timedelta(2)),
        (d + timedelta(5), d + timedelta(6)),
    ]


# --- message-based: a day runs when all its inputs are in ----------------------------------------


def materialized(
    instance: dg.DagsterInstance, key: dg.AssetKey, day: str | None, **metadata: object
) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=key, partition=day, metadata=metadata)
    )


def test_a_forecast_is_issued_once_the_day_before_and_its_weather_forecast_are_staged(
    sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["inputs_complete_sensor"]
    materialized(instance, STG_CONSUMPTION, "2025-03-01")
    assert not tick(sensor, instance).run_requests  # no weather forecast for 03-02 yet

    materialized(instance, STG_FORECAST, "2025-03-02")
    (request,) = tick(sensor, instance).run_requests
    # The forecast for 03-02 runs on 03-01's actuals, before any hour of 03-02 is staged.
    assert request.job_name == "forecast_job"
    assert request.tags["dagster/asset_partition_range_start"] == "2025-03-02"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-03-02"
    assert request.tags["trigger"] == "message"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "consumption_features",
        "online_features",
        "batch_predictions",
        "drift_report",
    }

    materialized(instance, dg.AssetKey("consumption_features"), "2025-03-02")
    assert not tick(sensor, instance).run_requests

    materialized(instance, STG_FORECAST, "2025-03-02")  # a corrected forecast arrives late
    (late,) = tick(sensor, instance).run_requests
    assert late.tags["dagster/asset_partition_range_start"] == "2025-03-02"
    assert late.run_key != request.run_key


def test_a_forecast_is_scored_once_its_days_actuals_are_staged(
    sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["inputs_complete_sensor"]
    materialized(instance, dg.AssetKey("consumption_features"), "2025-03-02")
    materialized(instance, dg.AssetKey("batch_predictions"), "2025-03-02")
    assert not tick(sensor, instance).run_requests  # 03-02 has not ended yet

    materialized(instance, STG_CONSUMPTION, "2025-03-02")
    requests = tick(sensor, instance).run_requests
    scoring = [r for r in requests if r.job_name == "daily_job"]
    (score,) = scoring
    assert [k.to_user_string() for k in score.asset_selection] == ["prediction_performance"]
    assert score.tags["dagster/asset_partition_range_start"] == "2025-03-02"
    # The same actuals also open the forecast of the next day, once its weather forecast is in.
    assert [r.job_name for r in requests] == ["daily_job"]

    materialized(instance, dg.AssetKey("prediction_performance"), "2025-03-02")
    assert not tick(sensor, instance).run_requests


def test_landed_weather_forecasts_are_ingested_by_the_forecast_job(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    land(mlops_env.landing_dir, "consumption_2025-03-01.csv", "weather_forecast_2025-03-02.csv")
    requests = tick(sensors["landing_zone_sensor"], instance).run_requests
    by_job = {r.job_name: r for r in requests}
    assert set(by_job) == {"ingestion_job", "forecast_job"}
    forecast = by_job["forecast_job"]
    assert [k.to_user_string() for k in forecast.asset_selection] == [
        "raw_weather_forecast",
        "staging/stg_weather_forecast",
    ]
    assert forecast.tags["dagster/asset_partition_range_start"] == "2025-03-02"


def test_ready_days_needs_every_input_newer_than_the_downstream() -> None:
    inputs = {"consumption": {"a": 1, "b": 5}, "weather": {"a": 2, "c": 3}}
    assert triggers.ready_days(inputs, {}) == {"a": 2}
    assert triggers.ready_days(inputs, {"a": 4}) == {}
    assert triggers.ready_days({"consumption": {"a": 9}, "weather": {"a": 2}}, {"a": 4}) == {"a": 9}


# --- drift and performance ----------------------------------------------------------------------


def test_drift_sensor_starts_after_history_and_requests_training_with_the_numbers(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["drift_retraining_sensor"]
    drift = dg.AssetKey("drift_report")
    materialized(instance, drift, "2025-02-28", drift_share=0.9, drifted_columns=["lag_24h"])
    start = tick(sensor, instance)
    assert not start.run_requests  # history before the first tick never triggers

    materialized(instance, drift, "2025-03-01", drift_share=0.2, drifted_columns=["lag_24h"])
    materialized(instance, drift, "2025-03-02", status="skipped: not enough history")
    calm = tick(sensor, instance, start.cursor)
    assert not calm.run_requests and "at or above the threshold" in (calm.skip_message or "")

    columns = ["lag_24h", "rolling_mean_24h", "prediction"]
    materialized(instance, drift, "2025-03-03", drift_share=0.67, drifted_columns=columns)
    fired = tick(sensor, instance, calm.cursor)
    (request,) = fired.run_requests
    assert request.tags["trigger"] == "drift"
    assert request.tags["drift_partition"] == "2025-03-03"
    assert request.tags["drift_share"] == "0.670"
    assert request.tags["drift_threshold"] == f"{mlops_env.monitoring.drift_share_threshold:.3f}"
    assert request.tags["drifted_columns"] == ",".join(columns)
    assert "0.67" in request.tags["trigger_reason"]
    assert not tick(sensor, instance, fired.cursor).run_requests

    # Once a retrained model is champion, reports measured against the old one never fire.
    materialized(instance, dg.AssetKey("champion_model"), None, champion_version="2")
    materialized(
        instance,
        drift,
        "2025-03-04",
        drift_share=0.9,
        drifted_columns=columns,
        champion_version="1",
    )
    stale = tick(sensor, instance, fired.cursor)
    assert not stale.run_requests
    materialized(
        instance,
        drift,
        "2025-03-05",
        drift_share=0.9,
        drifted_columns=columns,
        champion_version="2",
    )
    assert len(tick(sensor, instance, stale.cursor).run_requests) == 1


def test_performance_sensor_needs_consecutive_days_above_the_threshold(
    mlops_env: Settings, sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    assert mlops_env.monitoring.wape_threshold == 10.0
    sensor = sensors["performance_retraining_sensor"]
    performance = dg.AssetKey("prediction_performance")
    for day, wape in (("2025-03-01", 17.0), ("2025-03-02", 4.0), ("2025-03-03", 18.0)):
        # MAPE is not what the rule reads: a high one alone never retrains.
        materialized(instance, performance, day, champion_wape=wape, champion_mape=90.0)
    assert not tick(sensor, instance).run_requests

    materialized(instance, performance, "2025-03-04", champion_wape=20.0)
    materialized(instance, performance, "2025-03-02", champion_wape=16.0)  # re-scored later
    fired = tick(sensor, instance)
    (request,) = fired.run_requests
    assert request.tags["trigger"] == "performance"
    assert request.tags["last_partition"] == "2025-03-04"
    assert request.tags["wape_threshold"] == "10.00"
    assert "2025-03-02 16.0%" in request.tags["wape_by_day"]
    assert "WAPE above 10.0%" in request.tags["trigger_reason"]
    assert not tick(sensor, instance, fired.cursor).run_requests

    # After a new champion, only days it scored count: three more bad days are needed.
    materialized(instance, dg.AssetKey("champion_model"), None, champion_version="2")
    for day in ("2025-03-05", "2025-03-06"):
        materialized(instance, performance, day, champion_wape=30.0, champion_version="2")
    assert not tick(sensor, instance, fired.cursor).run_requests
    materialized(instance, performance, "2025-03-07", champion_wape=30.0, champion_version="2")
    assert len(tick(sensor, instance, fired.cursor).run_requests) == 1


def test_performance_sensor_ignores_days_the_champion_trained_on(
    sensors: dict[str, dg.SensorDefinition], instance: dg.DagsterInstance
) -> None:
    sensor = sensors["performance_retraining_sensor"]
    performance = dg.AssetKey("prediction_performance")
    for day in ("2025-03-01", "2025-03-02"):
        materialized(instance, performance, day, champion_wape=40.0, in_sample=False)
    materialized(instance, performance, "2025-03-03", champion_wape=40.0, in_sample=True)
    assert not tick(sensor, instance).run_requests
    materialized(instance, performance, "2025-03-03", champion_wape=40.0, in_sample=False)
    assert len(tick(sensor, instance).run_requests) == 1


def test_performance_trigger_ignores_gaps() -> None:
    gap = [("2025-03-01", 20.0), ("2025-03-02", 20.0), ("2025-03-04", 20.0)]
    assert triggers.performance_trigger(gap, 10.0, 3) is None
    assert triggers.performance_trigger(gap[:2], 10.0, 2) is not None
    assert triggers.drift_trigger("2025-03-01", 0.49, [], 0.5) is None


# --- alarm ---------------------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, str]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Hook.received
    server.shutdown()
    server.server_close()


def test_a_failed_run_raises_an_alert_in_the_file_the_log_and_the_webhook(
    mlops_env: Settings,
    instance: dg.DagsterInstance,
    webhook: tuple[str, list[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = webhook
    monkeypatch.setenv("MLOPS_ALERT_WEBHOOK_URL", url)
    sensor = {s.name: s for s in build_sensors(Settings.from_env())}["run_failure_alert_sensor"]

    @dg.op
    def broken() -> None:
        raise RuntimeError("disk full")

    @dg.job
    def nightly() -> None:
        broken()

    result = nightly.execute_in_process(
        instance=instance, raise_on_error=False, tags={"trigger": "push"}
    )
    event = (
        instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        .records[0]
        .event_log_entry.dagster_event
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    sensor(context)

    lines = (mlops_env.data_dir / "alerts" / "alerts.jsonl").read_text().splitlines()
    alert = json.loads(lines[-1])
    assert alert["run_id"] == result.run_id and alert["job"] == "nightly"
    assert alert["trigger"] == "push"
    assert received == [alert]


def test_an_unreachable_webhook_only_logs(tmp_path: Path) -> None:
    logged: list[str] = []

    class Log:
        def error(self, message: str) -> None:
            logged.append(message)

        def warning(self, message: str) -> None:
            logged.append(message)

    alert = {"run_id": "r", "job": "j", "message": "boom"}
    write_alert(tmp_path / "a.jsonl", alert, "http://127.0.0.1:9/x", Log())
    assert "ALERT run r of j failed" in logged[0] and "webhook" in logged[1]
    assert (tmp_path / "a.jsonl").exists()
