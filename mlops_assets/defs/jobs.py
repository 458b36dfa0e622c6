"""Jobs named after lifecycle stages, and the schedules that run them."""

import dagster as dg

from mlops_assets.defs.partitions import daily_partitions

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

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets("training_set", "candidate_model", "champion_model"),
    description="Build the training set, train and register a candidate, gate it, and promote it "
    "to champion if the gate passed.",
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

ingestion_schedule = dg.build_schedule_from_partitioned_job(
    ingestion_job,
    hour_of_day=1,
    description="Pull architecture: every night at 01:00 UTC, ingest and stage yesterday.",
)
