"""Jobs named after lifecycle stages, and the schedules that run them."""

import dagster as dg

from mlops_assets.defs.partitions import daily_partitions
from mlops_assets.settings import get_settings

# MLOPS_AUTOMATION=on starts schedules (and sensors) running; otherwise they wait for the UI.
AUTOMATION_STATUS = (
    dg.DefaultScheduleStatus.RUNNING
    if get_settings().automation_on
    else dg.DefaultScheduleStatus.STOPPED
)

INGESTION = dg.AssetSelection.groups("raw", "staging")

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=INGESTION,
    partitions_def=daily_partitions,
    description="Ingest raw consumption and weather for a day, validate, then stage them with dbt.",
    # One process: the steps are short and re-importing the code location per step costs more.
    executor_def=dg.in_process_executor,
)

feature_job = dg.define_asset_job(
    "feature_job",
    selection=dg.AssetSelection.assets("consumption_features", "online_features"),
    partitions_def=daily_partitions,
    description="Compute the day's features into the offline store, then load the online store.",
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

# Every daily-partitioned asset: what one day of the pull architecture runs, and the target the
# sensors request subsets of.
DAILY = dg.AssetSelection.groups("raw", "staging", "predictions", "monitoring") | (
    dg.AssetSelection.assets("consumption_features", "online_features")
)
# What depends on both staged inputs of a day: the message-based sensor runs this.
DOWNSTREAM_OF_STAGING = [
    dg.AssetKey(name)
    for name in (
        "consumption_features",
        "online_features",
        "batch_predictions",
        "prediction_performance",
        "drift_report",
    )
]

daily_job = dg.define_asset_job(
    "daily_job",
    selection=DAILY,
    partitions_def=daily_partitions,
    description="One day (or a range) of the loop: ingest, stage, features, online store, batch "
    "predictions, realised performance and drift.",
    executor_def=dg.in_process_executor,
)

# The main job: every asset, for one day or a range, in one process (the quickstart runs it).
full_pipeline_job = dg.define_asset_job(
    "full_pipeline_job",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="The whole graph: ingestion, staging, features, registry, online store, training "
    "set, candidate model, gate and champion.",
    executor_def=dg.in_process_executor,
)

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=1,
    default_status=AUTOMATION_STATUS,
    description="Pull architecture: every night at 01:00 UTC, run yesterday through ingestion, "
    "features, the online store, predictions and monitoring.",
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
