"""The code location loads, has the expected graph, and stays light to import."""

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from mlops_assets.definitions import defs
from mlops_assets.lib.features import FEATURE_NAMES

HEAVY = ("feast", "evidently", "mlflow", "xgboost", "sklearn")
RAW_CHECKS = {
    "schema",
    "uniqueness",
    "completeness",
    "validity",
    "timeliness",
    "expected_segments",
    "plausibility",
    "value_skew",
}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def test_asset_graph_snapshot(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    deps = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert deps == {
        "raw_consumption": [],
        "raw_weather": [],
        "raw_weather_forecast": [],
        "staging/stg_consumption": ["raw_consumption"],
        "staging/stg_weather": ["raw_weather"],
        "staging/stg_weather_forecast": ["raw_weather_forecast"],
        "consumption_features": ["staging/stg_consumption", "staging/stg_weather_forecast"],
        "feature_registry": [],
        "online_features": ["consumption_features", "feature_registry"],
        "training_set": ["consumption_features", "staging/stg_consumption"],
        "candidate_model": ["training_set"],
        "champion_model": ["candidate_model"],
        "backtest": ["consumption_features", "staging/stg_consumption"],
        "batch_predictions": ["champion_model", "consumption_features"],
        "prediction_performance": ["batch_predictions", "staging/stg_consumption"],
        "drift_report": ["batch_predictions", "consumption_features"],
    }


UNPARTITIONED = {
    "feature_registry",
    "training_set",
    "candidate_model",
    "champion_model",
    "backtest",
}
# Assets of a target day D, issued at D's origin: their partitions reach today.
FORECAST_DAY = {
    "raw_weather_forecast",
    "staging/stg_weather_forecast",
    "consumption_features",
    "online_features",
    "batch_predictions",
    "drift_report",
}


def test_forecasts_reach_today_and_actuals_end_yesterday(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    today = datetime.now(UTC).date()
    for key in graph.get_all_asset_keys():
        name, node = key.to_user_string(), graph.get(key)
        if name in UNPARTITIONED:
            continue
        last = node.partitions_def.get_last_partition_key()
        expected = today if name in FORECAST_DAY else today - timedelta(days=1)
        assert last == expected.isoformat(), name


def test_a_forecast_reads_only_actuals_from_before_its_origin(
    definitions: dg.Definitions,
) -> None:
    graph = definitions.resolve_asset_graph()
    day = "2026-03-20"

    def parents(child: str, parent: dg.AssetKey, key: str = day) -> list[str]:
        result = graph.get_parent_partition_keys_for_child(key, parent, dg.AssetKey(child))
        return sorted(result.partitions_subset.get_partition_keys())

    staged = dg.AssetKey(["staging", "stg_consumption"])
    # The features of D read the 15 days before D, never D itself.
    looked_at = parents("consumption_features", staged)
    assert looked_at[0] == "2026-03-05" and looked_at[-1] == "2026-03-19"
    assert len(looked_at) == 15
    assert parents("consumption_features", dg.AssetKey(["staging", "stg_weather_forecast"])) == [
        day
    ]
    assert parents("batch_predictions", dg.AssetKey("consumption_features")) == [day]
    # D is scored once D's own actuals are staged.
    assert parents("prediction_performance", staged) == [day]
    assert parents("prediction_performance", dg.AssetKey("batch_predictions")) == [day]
    # The first day of the calendar has no history before it: a shorter look-back, no error.
    first = graph.get(dg.AssetKey("consumption_features")).partitions_def.get_first_partition_key()
    assert parents("consumption_features", staged, first) == []


def test_every_asset_is_described_owned_grouped_and_daily(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners, key
        assert node.group_name in {
            "raw",
            "staging",
            "features",
            "model",
            "predictions",
            "monitoring",
        }, key
        assert node.kinds, key
        if key.to_user_string() in UNPARTITIONED:
            assert node.partitions_def is None, key
        else:
            assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), key


def test_feature_assets_show_the_catalog_and_feast_badges(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    node = graph.get(dg.AssetKey("consumption_features"))
    assert {"polars", "feast"} <= set(node.kinds)
    columns = node.metadata["dagster/column_schema"].columns
    assert [c.name for c in columns] == list(FEATURE_NAMES)
    assert all(c.description for c in columns)


def test_raw_assets_carry_blocking_gates_and_a_warning_check(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    for name in ("raw_consumption", "raw_weather", "raw_weather_forecast"):
        specs = {
            k.name: graph.get_check_spec(k)
            for k in graph.get_check_keys_for_assets({dg.AssetKey(name)})
        }
        assert set(specs) == RAW_CHECKS
        assert {n for n, s in specs.items() if s.blocking} == RAW_CHECKS - {"value_skew"}


def test_dbt_tests_are_asset_checks(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    checks = graph.get_check_keys_for_assets({dg.AssetKey(["staging", "stg_consumption"])})
    names = {c.name for c in checks}
    assert "accepted_values_stg_consumption_price_area__DK1__DK2" in names
    assert any(n.startswith("unique_combination_of_columns_stg_consumption") for n in names)


def test_the_main_job_covers_the_whole_graph(definitions: dg.Definitions) -> None:
    from mlops_assets.pipeline import Plan, steps

    plan = Plan(date(2026, 1, 1), date(2026, 2, 11))
    covered: set[dg.AssetKey] = set()
    for step in steps(plan):
        job = definitions.resolve_job_def(step.job)
        keys = job.asset_layer.executable_asset_keys
        covered |= {dg.AssetKey(a) for a in step.assets} if step.assets else keys
    # The backtest is run on demand (backtest_job): minutes of refits the main job does not need.
    on_demand = {dg.AssetKey("backtest")}
    assert covered == definitions.resolve_asset_graph().get_all_asset_keys() - on_demand


def test_jobs_and_schedules(definitions: dg.Definitions) -> None:
    def assets_of(job_name: str) -> set[str]:
        job = definitions.resolve_job_def(job_name)
        return {k.to_user_string() for k in job.asset_layer.executable_asset_keys}

    actuals = {
        "raw_consumption",
        "raw_weather",
        "staging/stg_consumption",
        "staging/stg_weather",
    }
    assert assets_of("ingestion_job") == actuals
    daily = definitions.resolve_schedule_def("daily_job_schedule")
    assert daily.cron_schedule == "30 0 * * *"
    assert assets_of(daily.job_name) == actuals | {"prediction_performance"}
    forecast = definitions.resolve_schedule_def("forecast_job_schedule")
    assert forecast.cron_schedule == "0 1 * * *"
    assert assets_of(forecast.job_name) == FORECAST_DAY
    # At 01:00 on day T the forecast for T is issued, after yesterday's actuals were staged.
    with dg.DagsterInstance.ephemeral() as instance:
        for schedule, expected in ((daily, "2026-11-29"), (forecast, "2026-11-30")):
            context = dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=datetime(2026, 11, 30, 1, 0, tzinfo=UTC),
                repository_def=definitions.get_repository_def(),
            )
            (request,) = schedule.evaluate_tick(context).run_requests
            assert request.partition_key == expected, schedule.name
    weekly = definitions.resolve_schedule_def("weekly_retraining_schedule")
    assert weekly.cron_schedule == "0 3 * * 1" and weekly.job_name == "training_job"
    sensors = {s.name for s in definitions.sensors or []}
    assert sensors == {
        "landing_zone_sensor",
        "inputs_complete_sensor",
        "drift_retraining_sensor",
        "performance_retraining_sensor",
        "run_failure_alert_sensor",
    }


def test_the_candidate_model_is_guarded_by_a_blocking_gate(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    checks = graph.get_check_keys_for_assets({dg.AssetKey("candidate_model")})
    assert [c.name for c in checks] == ["beats_baseline_and_champion"]
    assert graph.get_check_spec(next(iter(checks))).blocking
    # Promotion is its own asset below the gate, so a failed gate never moves the alias.
    assert graph.get(dg.AssetKey("champion_model")).parent_keys == {dg.AssetKey("candidate_model")}
    job = definitions.resolve_job_def("training_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "training_set",
        "candidate_model",
        "champion_model",
    }


def test_loading_the_code_location_imports_no_heavy_library() -> None:
    code = (
        "import sys, json, mlops_assets.definitions as d; d.defs();"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
