"""Jobs named after lifecycle stages, and the schedules that run them."""

import dagster as dg

from mlops_assets.defs.partitions import daily_partitions

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.groups("raw", "staging"),
    partitions_def=daily_partitions,
    description="Ingest raw consumption and weather for a day, validate, then stage them with dbt.",
    # One process: the steps are short and re-importing the code location per step costs more.
    executor_def=dg.in_process_executor,
)

ingestion_schedule = dg.build_schedule_from_partitioned_job(
    ingestion_job,
    hour_of_day=1,
    description="Pull architecture: every night at 01:00 UTC, ingest and stage yesterday.",
)
