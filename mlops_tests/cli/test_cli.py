"""The command lines README documents, run as subprocesses against a temporary DAGSTER_HOME."""

import os
import signal
import subprocess
import sys
import time
from datetime import date
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


def test_quickstart_runs_the_main_job_then_is_a_no_op(
    mlops_env: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three weeks: the model needs a week of lags, two validation and two test days, and enough
    # training days left to beat the seasonal-naive baseline at the gate.
    monkeypatch.setenv("MLOPS_CONSUMER_TYPES", "3")
    quickstart = (str(BIN / "mlops-assets"), "quickstart", "--days", "21", "--end", "2025-02-21")

    first = run(*quickstart)
    second = run(*quickstart)

    assert first.returncode == 0, first.stderr[-3000:]
    assert "full_pipeline_job succeeded" in first.stdout
    assert "dagster dev" in first.stdout and "warehouse" in first.stdout
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already materialized" in second.stdout
    assert len(instance.get_runs()) == 1
    days = Lake(mlops_env.lake_dir).days("raw_weather")
    assert days[0] == date(2025, 2, 1) and days[-1] == date(2025, 2, 21) and len(days) == 21
    assert "MLflow runs and model registry" in first.stdout
    assert Lake(mlops_env.lake_dir).days("predictions")[-1] == date(2025, 2, 21)

    # The documented backfill of predictions and monitoring: one in-process run over the range.
    backfill = dagster(
        "asset materialize",
        "--select",
        "batch_predictions,prediction_performance,drift_report",
        "--partition-range",
        "2025-02-19...2025-02-21",
    )
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    assert len(instance.get_runs()) == 2
    for name in ("batch_predictions", "prediction_performance", "drift_report"):
        records = instance.fetch_materializations(dg.AssetKey(name), limit=3).records
        assert {r.partition_key for r in records} == {"2025-02-19", "2025-02-20", "2025-02-21"}
        assert all(r.run_id == instance.get_runs()[0].run_id for r in records), name
    performance = instance.fetch_materializations(
        dg.AssetKey("prediction_performance"), limit=1
    ).records[0]
    assert performance.asset_materialization.metadata["champion_mape"].value > 0


def test_quickstart_reports_bad_files_and_fails(
    mlops_env: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_SOURCE", "landing")
    bad = mlops_env.landing_dir / "consumption_2025-02-02.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("HourUTC,PriceArea\n2025-02-02T00:00:00,DK1\n")

    done = run(str(BIN / "mlops-assets"), "quickstart", "--days", "1", "--end", "2025-02-02")

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
    assert len(files) == 20 and files[0] == "consumption_2025-01-01.json"
    assert "20/20" in done.stderr
