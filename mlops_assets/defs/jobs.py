"""Jobs named after lifecycle stages, and the schedules that run them."""

import dagster as dg

from mlops_assets.settings import get_settings

# MLOPS_AUTOMATION=on starts schedules (and sensors) running; otherwise they wait for the UI.
AUTOMATION_STATUS = (
    dg.DefaultScheduleStatus.RUNNING
    if get_settings().automation_on
    else dg.DefaultScheduleStatus.STOPPED
)

ACTUALS = dg.AssetSelection.assets("raw_consumption", "raw_weather") | dg.AssetSelection.assets(
    ["staging", "stg_consumption"], ["staging", "stg_weather"]
)
WEATHER_FORECAST = dg.AssetSelection.assets(
    "raw_weather_forecast", ["staging", "stg_weather_forecast"]
)

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=ACTUALS,
    description="Ingest a day's actuals (consumption and observed weather), validate, then stage "
    "them with dbt.",
    # One process: the steps are short and re-importing the code location per step costs more.
    executor_def=dg.in_process_executor,
)

feature_job = dg.define_asset_job(
    "feature_job",
    selection=WEATHER_FORECAST
    | dg.AssetSelection.assets("consumption_features", "online_features"),
    description="For target day D: ingest and stage D's weather forecast, compute D's features "
    "from what was known at D's origin, then load the online store.",
    executor_def=dg.in_process_executor,
)

training_data_job = dg.define_asset_job(
    "training_data_job",
    selection=dg.AssetSelection.assets("feature_registry", "training_set"),
    description="Apply the Feast registry and build the point-in-time training set.",
    executor_def=dg.in_process_executor,
)


def _step_executor() -> dg.ExecutorDefinition:
    """One process here; one Kubernetes pod per step in production (MLOPS_STEP_EXECUTOR=k8s)."""
    choice = get_settings().step_executor
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor  # installed in the image (the `prod` extra)

        return k8s_job_executor
    return dg.multiprocess_executor if choice == "multiprocess" else dg.in_process_executor


training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets("training_set", "candidate_model", "champion_model"),
    description="Build the training set, train and register a candidate, gate it, and promote it "
    "to champion if the gate passed.",
    executor_def=_step_executor(),
)

# On demand only: minutes of fitting that no schedule or sensor needs.
backtest_job = dg.define_asset_job(
    "backtest_job",
    selection=dg.AssetSelection.assets("backtest"),
    description="Backtest the model against the baselines over the newest weeks (rolling origin, "
    "weekly refit by default) and log the tables and plot to MLflow.",
    executor_def=dg.in_process_executor,
)

# What issuing the forecast for target day D runs, at D's origin (00:00 UTC), once D-1's
# consumption is staged: D's weather forecast, features, online store, forecasts and drift.
FORECAST = WEATHER_FORECAST | dg.AssetSelection.assets(
    "consumption_features", "online_features", "batch_predictions", "drift_report"
)
# What the message-based sensor runs once a forecast day's inputs are staged.
FORECAST_FROM_STAGED = [
    dg.AssetKey(name)
    for name in ("consumption_features", "online_features", "batch_predictions", "drift_report")
]

forecast_job = dg.define_asset_job(
    "forecast_job",
    selection=FORECAST,
    description="Issue the day-ahead forecast of target day D (or a range): weather forecast, "
    "features known at D's origin, online store, batch predictions and drift. Partitions reach "
    "today: D's forecast exists before any hour of D happens.",
    executor_def=dg.in_process_executor,
)

# What happens once day D is over and its actuals land: ingest and stage them, then score D's
# forecast against them.
daily_job = dg.define_asset_job(
    "daily_job",
    selection=ACTUALS | dg.AssetSelection.assets("prediction_performance"),
    description="Day D's actuals (or a range): ingest, validate and stage consumption and "
    "observed weather, then the realised performance of D's forecast.",
    executor_def=dg.in_process_executor,
)

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=0,
    minute_of_hour=30,
    default_status=AUTOMATION_STATUS,
    description="Pull architecture: every night at 00:30 UTC, ingest and stage yesterday's "
    "actuals and score yesterday's forecast against them.",
)

forecast_schedule = dg.build_schedule_from_partitioned_job(
    forecast_job,
    hour_of_day=1,
    default_status=AUTOMATION_STATUS,
    description="Pull architecture: every night at 01:00 UTC (after daily_job staged "
    "yesterday), issue today's forecast: weather forecast, features, online store, predictions "
    "and drift for today.",
)

weekly_retraining_schedule = dg.ScheduleDefinition(
    name="weekly_retraining_schedule",
    job=training_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=AUTOMATION_STATUS,
    tags={"trigger": "schedule", "trigger_reason": "weekly retraining, Monday 03:00 UTC"},
    description="Pull architecture: retrain every Monday at 03:00 UTC; the gate decides.",
)
