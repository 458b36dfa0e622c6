"""dbt staging models over the raw lake partitions; dbt tests become asset checks."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from mlops_assets.defs.partitions import daily_partitions
from mlops_assets.defs.resources import LakeResource, WarehouseResource
from mlops_assets.defs.staging.project import dbt_project
from mlops_assets.lib.dbt_args import build_args

OWNER = "team:data-engineering"


class StagingTranslator(DagsterDbtTranslator):
    """Staging models get an owner and the `staging` group in the UI."""

    def get_asset_spec(self, manifest: Any, unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(owners=[OWNER], group_name="staging")
        return spec


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=StagingTranslator(),
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # One writer at a time: DuckDB holds a file lock on the warehouse.
    pool="duckdb",
)
def staging_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> Iterator[Any]:
    """Typed, renamed staging tables in DuckDB for the partition window."""
    start, end = context.partition_time_window
    # dbt reads the lake's local files: fetch the window from the S3 lake where missing.
    the_lake = lake.lake()
    days = [date.fromisoformat(k) for k in context.partition_keys]
    for table in ("raw_consumption", "raw_weather"):
        the_lake.ensure_local(table, days)
    args = build_args(start, end, Path(lake.root), Path(warehouse.path))
    yield from dbt.cli(args, context=context).stream()
