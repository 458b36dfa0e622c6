"""The backtest asset and CLI over a short history in real stores: metadata in the UI, one
MLflow run per backtest, and the job that runs it on demand."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
import pytest

from mlops_assets import cli
from mlops_assets.definitions import ASSETS, defs
from mlops_assets.defs.jobs import feature_job, ingestion_job
from mlops_assets.defs.resources import build_resources
from mlops_assets.settings import Settings
from mlops_tests.assets.test_model_assets import FIRST, LAST, _failure, _registry, _run

BACKTEST = dg.AssetSelection.assets("backtest")
# Features begin the day after the actuals and the weekly lag a week later: of the 24 days,
# 03-08 .. 03-24 have every baseline, so two test weeks leave three days to train the first.
WEEKS = 2


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Actuals staged and features in the offline store for 24 days of 6 segments."""
    data_dir = tmp_path_factory.mktemp("backtest") / "data"
    with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.ephemeral() as instance:
        mp.setenv("MLOPS_DATA_DIR", str(data_dir))
        mp.setenv("MLOPS_CONSUMER_TYPES", "3")
        settings = Settings.from_env()
        assert _run(settings, instance, ingestion_job.selection).success
        features = feature_job.selection - dg.AssetSelection.assets("online_features")
        assert _run(settings, instance, features, FIRST + timedelta(days=1)).success
        yield settings


def test_the_backtest_asset_shows_its_tables_plot_and_mlflow_run(stores: Settings) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            ASSETS,
            selection=BACKTEST,
            resources=build_resources(stores),
            instance=instance,
            run_config={"ops": {"backtest": {"config": {"weeks": WEEKS, "history_days": 10}}}},
        )
    assert result.success
    (event,) = result.asset_materializations_for_node("backtest")
    meta: dict[str, Any] = {k: v.value for k, v in event.metadata.items()}
    assert meta["test_window"] == f"{LAST - timedelta(days=13)} .. {LAST}"
    assert meta["read_window"] == f"[{LAST - timedelta(days=23)}, {LAST + timedelta(days=1)})"
    assert meta["weeks"] == WEEKS and meta["segments"] == 6
    assert "| model |" in meta["overall"] and "| seasonal_naive |" in meta["overall"]
    assert "| week | test week | trained on |" in meta["by_week"]
    assert f"| 2 | {LAST - timedelta(days=6)} .. {LAST} |" in meta["by_week"]
    assert "| category | model |" in meta["by_category"]
    assert meta["plot"].startswith("![backtest WAPE](data:image/png;base64,")
    assert meta["model_wape"] > 0 and meta["seasonal_naive_wape"] > 0
    _, metrics, tags = _registry(stores).run_record(meta["mlflow_run_id"])
    assert tags["run_type"] == "backtest" and tags["dagster_run_id"] == result.run_id
    assert metrics["model_wape"] == pytest.approx(meta["model_wape"])


def test_too_many_weeks_for_the_stores_fail_with_what_to_change(stores: Settings) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            ASSETS,
            selection=BACKTEST,
            resources=build_resources(stores),
            instance=instance,
            run_config={"ops": {"backtest": {"config": {"weeks": 6}}}},
            raise_on_error=False,
        )
    assert not result.success
    message = _failure(result)
    assert "test week 1" in message and "weeks, history_days and end_date" in message


def test_the_cli_backtest_prints_the_tables_and_where_the_plot_and_run_are(
    stores: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["backtest", "--weeks", "1", "--refit-every", "0"]) == 0
    out = capsys.readouterr().out
    assert f"**Backtest of 1 week(s), {LAST - timedelta(days=6)} .. {LAST}, 6 segments**" in out
    assert "| forecaster | wape | mape | mae |" in out
    plot = stores.data_dir / "reports" / f"backtest_{LAST - timedelta(days=6)}_{LAST}.png"
    assert f"plot:       {plot}" in out and plot.read_bytes().startswith(b"\x89PNG")
    assert "MLflow run: " in out and "experiment 'consumption_forecast'" in out


def test_the_backtest_runs_on_demand_only() -> None:
    definitions = defs()
    job = definitions.resolve_job_def("backtest_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"backtest"}
    scheduled = {
        definitions.resolve_schedule_def(s.name).job_name for s in definitions.schedules or []
    }
    assert scheduled and "backtest_job" not in scheduled
