"""dbt staging models over the raw lake partitions; dbt tests become asset checks.

Two definitions over one dbt project, because their days differ: actuals (consumption, observed
weather) are staged up to yesterday, weather forecasts by target day up to today.
"""

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from mlops_assets.defs.partitions import daily_partitions, forecast_partitions
from mlops_assets.defs.resources import LakeResource, WarehouseResource
from mlops_assets.defs.staging.project import dbt_project
from mlops_assets.lib.dbt_args import build_args

OWNER = "team:data-engineering"
FORECAST_MODELS = "stg_weather_forecast"


class StagingTranslator(DagsterDbtTranslator):
    """Staging models get an owner and the `staging` group in the UI."""

    def get_asset_spec(self, manifest: Any, unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(owners=[OWNER], group_name="staging")
        return spec


def _staging_assets(
    name: str,
    partitions_def: dg.DailyPartitionsDefinition,
    raw_tables: Sequence[str],
    **selection: str,
) -> dg.AssetsDefinition:
    """The dbt models `selection` picks, run over the partition window of `partitions_def`."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=StagingTranslator(),
        name=name,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # One writer at a time: DuckDB holds a file lock on the warehouse.
        pool="duckdb",
        **selection,  # type: ignore[arg-type]
    )
    def staging(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
    ) -> Iterator[Any]:
        start, end = context.partition_time_window
        # dbt reads the lake's local files: fetch the window from the S3 lake where missing.
        the_lake = lake.lake()
        days = [date.fromisoformat(k) for k in context.partition_keys]
        for table in raw_tables:
            the_lake.ensure_local(table, days)
        args = build_args(start, end, Path(lake.root), Path(warehouse.path))
        yield from dbt.cli(args, context=context).stream()

    return staging


# Typed, renamed staging tables of the actuals, for the days of the partition window.
staging_models = _staging_assets(
    "staging_models",
    daily_partitions,
    ("raw_consumption", "raw_weather"),
    exclude=FORECAST_MODELS,
)
# Typed, renamed weather forecasts, for the target days of the partition window.
staging_forecast_models = _staging_assets(
    "staging_forecast_models",
    forecast_partitions,
    ("raw_weather_forecast",),
    select=FORECAST_MODELS,
)
