"""The command lines README documents, run as subprocesses against a temporary DAGSTER_HOME."""

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.instance import prepare_home
from mlops_assets.lib.lake import Lake
from mlops_assets.settings import PROJECT_ROOT, Settings
from mlops_tests.helpers import land, warehouse_rows

BIN = Path(sys.executable).parent
SELECT = "raw_consumption,raw_weather,staging/stg_consumption,staging/stg_weather"
ASSET_KEYS = [
    dg.AssetKey("raw_consumption"),
    dg.AssetKey("raw_weather"),
    dg.AssetKey(["staging", "stg_consumption"]),
    dg.AssetKey(["staging", "stg_weather"]),
]
WEEK = [f"2025-01-{d:02d}" for d in range(6, 13)]

pytestmark = pytest.mark.slow


def dagster(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`dagster <command> -m mlops_assets.definitions <args>`, the way README shows it."""
    return run(str(BIN / "dagster"), *command.split(), "-m", "mlops_assets.definitions", *args)


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def instance(mlops_env: Settings) -> dg.DagsterInstance:
    home = prepare_home(Path(os.environ["DAGSTER_HOME"]))
    return dg.DagsterInstance.from_config(str(home))


def test_asset_materialize_partition_range_is_one_run(
    mlops_env: Settings, instance: dg.DagsterInstance
) -> None:
    done = dagster(
        "asset materialize",
        "--select",
        SELECT,
        "--partition-range",
        f"{WEEK[0]}...{WEEK[-1]}",
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert len(instance.get_runs()) == 1
    for key in ASSET_KEYS:
        assert instance.get_materialized_partitions(key) == set(WEEK)
    assert Lake(mlops_env.lake_dir).days("raw_consumption") == [date.fromisoformat(d) for d in WEEK]
    assert warehouse_rows(mlops_env, "stg_consumption") == 7 * 24 * 76


def test_job_backfill_runs_one_run_per_partition_on_the_daemon(
    mlops_env: Settings, instance: dg.DagsterInstance
) -> None:
    queued = dagster(
        "job backfill",
        "-j",
        "ingestion_job",
        "--from",
        WEEK[0],
        "--to",
        WEEK[-1],
        "--noprompt",
    )
    assert queued.returncode == 0, queued.stderr[-3000:]
    assert len(instance.get_runs()) == 7

    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "mlops_assets.definitions"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = instance.get_runs()
            if all(r.is_finished for r in runs):
                break
            time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    runs = instance.get_runs()
    assert sorted(r.tags["dagster/partition"] for r in runs) == WEEK
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    for key in ASSET_KEYS:
        assert instance.get_materialized_partitions(key) == set(WEEK)
    assert warehouse_rows(mlops_env, "stg_weather") == 7 * 24 * 2


def test_history_from_2000_is_ingested_from_landing_files(
    mlops_env: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PARTITION_START", "2000-01-01")
    monkeypatch.setenv("MLOPS_SOURCE", "landing")
    days = [date(2000, 2, 28), date(2000, 2, 29)]
    for day in days:
        land(mlops_env, day, "csv")

    done = dagster(
        "asset materialize",
        "--select",
        "raw_consumption,staging/stg_consumption",
        "--partition-range",
        "2000-02-28...2000-02-29",
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert Lake(mlops_env.lake_dir).days("raw_consumption") == days
    assert warehouse_rows(mlops_env, "stg_consumption") == 2 * 24 * 2 * 4


def test_quickstart_trains_before_the_holdout_and_scores_it_out_of_sample(
    mlops_env: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shortest history the main job accepts: a week of lags, a training week, a validation
    # week and the gate's test week before the seven held-out days.
    monkeypatch.setenv("MLOPS_CONSUMER_TYPES", "3")
    quickstart = (str(BIN / "mlops-assets"), "quickstart", "--days", "36", "--end", "2025-02-21")

    first = run(*quickstart)
    second = run(*quickstart)

    assert first.returncode == 0, first.stderr[-3000:]
    assert "the main job succeeded" in first.stdout
    assert "train on 2025-01-18 .. 2025-02-14, forecast 2025-02-15 .. 2025-02-21" in first.stdout
    assert "Out-of-sample forecasts for 2025-02-15 .. 2025-02-21" in first.stdout
    table = first.stdout.split("Out-of-sample forecasts", 1)[1]
    for forecaster in ("champion", "seasonal_naive", "weekday_naive", "same_hour_yesterday"):
        assert f"| {forecaster} |" in table
    assert "dagster dev" in first.stdout and "warehouse" in first.stdout
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already ran for these days" in second.stdout
    assert "Out-of-sample forecasts" in second.stdout
    assert len(instance.get_runs()) == 6
    lake = Lake(mlops_env.lake_dir)
    days = lake.days("raw_weather")
    assert days[0] == date(2025, 1, 17) and days[-1] == date(2025, 2, 21) and len(days) == 36
    assert "MLflow runs and model registry" in first.stdout
    # Forecasts exist for the held-out week and the day after the history; none in sample.
    predicted = lake.days("predictions")
    assert predicted[0] == date(2025, 2, 15) and predicted[-1] == date(2025, 2, 22)
    # The forecast for 02-22 is in the lake while no actual of 02-22 exists anywhere...
    assert lake.days("raw_consumption")[-1] == date(2025, 2, 21)
    assert warehouse_rows(mlops_env, "stg_consumption", ["2025-02-22"]) == 0
    assert_features_known_at_origin(mlops_env, date(2025, 2, 22))
    performance = instance.fetch_materializations(
        dg.AssetKey("prediction_performance"), limit=10
    ).records
    assert {r.partition_key for r in performance} == {f"2025-02-{d}" for d in range(15, 22)}
    assert not any(r.asset_materialization.metadata["in_sample"].value for r in performance)

    # The documented backfill: forecasts of days the model trained on, then their scores, each
    # calendar as one in-process run over the range. Those days are marked in sample.
    backfill = dagster(
        "asset materialize",
        "--select",
        "batch_predictions,drift_report",
        "--partition-range",
        "2025-02-10...2025-02-12",
    )
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    scored = dagster(
        "asset materialize",
        "--select",
        "prediction_performance",
        "--partition-range",
        "2025-02-10...2025-02-12",
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert len(instance.get_runs()) == 8
    for name in ("batch_predictions", "prediction_performance", "drift_report"):
        records = instance.fetch_materializations(dg.AssetKey(name), limit=3).records
        assert {r.partition_key for r in records} == {"2025-02-10", "2025-02-11", "2025-02-12"}
    in_sample = instance.fetch_materializations(
        dg.AssetKey("prediction_performance"), limit=3
    ).records
    assert all(r.asset_materialization.metadata["in_sample"].value for r in in_sample)
    assert in_sample[0].asset_materialization.metadata["champion_mape"].value > 0


def assert_features_known_at_origin(settings: Settings, day: date) -> None:
    """...and every feature value it used is what the staged data cut at its origin gives."""
    import polars as pl

    from mlops_assets.feature_repo import offline
    from mlops_assets.lib import features, warehouse

    origin = features.origin_of(day)
    history, _ = features.staged_window(origin, origin)
    known = warehouse.read_window(
        settings.warehouse_path,
        warehouse.STAGED_CONSUMPTION,
        history,
        origin,
        list(features.CONSUMPTION_COLUMNS),
    )
    forecasts = warehouse.read_window(
        settings.warehouse_path,
        warehouse.STAGED_WEATHER_FORECAST,
        origin,
        origin + timedelta(days=1),
        list(features.WEATHER_COLUMNS),
    ).filter(pl.col("issue_utc") <= origin.replace(tzinfo=None))
    rebuilt = features.build_daily_features(known, forecasts, [day])[day]
    stored = pl.read_parquet(
        offline.partition_path(offline.offline_dir(settings.feature_store_dir), day)
    )
    assert stored.sort(features.ENTITY, features.TIMESTAMP).equals(
        rebuilt.sort(features.ENTITY, features.TIMESTAMP)
    )
    predictions = Lake(settings.lake_dir).read("predictions", [day])
    assert predictions is not None
    assert (predictions.get_column("origin") == origin).all()
    assert (predictions.get_column("issued_at") > origin).all()  # issued by this run, later


def test_quickstart_reports_bad_files_and_fails(
    mlops_env: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_SOURCE", "landing")
    bad = mlops_env.landing_dir / "consumption_2025-02-02.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("HourUTC,PriceArea\n2025-02-02T00:00:00,DK1\n")

    done = run(str(BIN / "mlops-assets"), "quickstart", "--days", "36", "--end", "2025-03-03")

    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "consumption_2025-02-02.csv" in output and "[schema]" in output
    assert "FAILED" in done.stderr


def test_generate_writes_a_history_with_progress(mlops_env: Settings) -> None:
    done = run(
        str(BIN / "mlops-assets"),
        "generate",
        "--start",
        "2025-01-01",
        "--end",
        "2025-01-10",
        "--format",
        "json",
        "--consumer-types",
        "3",
    )

    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in mlops_env.landing_dir.iterdir())
    assert len(files) == 30 and files[0] == "consumption_2025-01-01.json"
    assert "weather_forecast_2025-01-10.json" in files
    assert "30/30" in done.stderr


def test_quickstart_refuses_a_history_too_short_to_hold_out_a_week(mlops_env: Settings) -> None:
    done = run(str(BIN / "mlops-assets"), "quickstart", "--days", "20", "--end", "2025-02-21")

    assert done.returncode == 2
    assert "Use at least 36 days" in done.stderr
