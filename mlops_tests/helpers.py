"""Small helpers the asset and CLI tests share."""

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from mlops_assets.defs.ingest.assets import raw_consumption, raw_weather
from mlops_assets.defs.resources import build_resources
from mlops_assets.defs.staging.assets import staging_models
from mlops_assets.lib import landing_zone
from mlops_assets.lib.generator import (
    Defects,
    GeneratorConfig,
    generate_consumption,
    generate_weather,
)
from mlops_assets.lib.validation import day_window
from mlops_assets.settings import Settings

ALL_ASSETS = [raw_consumption, raw_weather, staging_models]
CONSUMPTION_ONLY = dg.AssetSelection.assets("raw_consumption", ["staging", "stg_consumption"])


def materialize(
    settings: Settings,
    partition: str | None = None,
    *,
    days: tuple[str, str] | None = None,
    selection: dg.AssetSelection | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Run the raw and staging assets for one partition or a single-run range."""
    tags = {}
    if days:
        tags = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[1],
        }
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        partition_key=partition,
        tags=tags,
        resources=build_resources(settings),
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def land(
    settings: Settings,
    day: date,
    fmt: str = "csv",
    defects: Defects | None = None,
    config: GeneratorConfig | None = None,
    weather: bool = False,
) -> Path:
    """Drop a generated consumption (or weather) file for `day` into the landing zone."""
    config = config or GeneratorConfig(n_consumer_types=4)
    start, end = day_window(day)
    if weather:
        frame, dataset = generate_weather(start, end, config), "weather"
    else:
        frame, dataset = generate_consumption(start, end, config, defects), "consumption"
    path = landing_zone.landing_path(settings.landing_dir, dataset, day, fmt)
    return landing_zone.write_file(frame, path)


class Runs:
    """The runs of one pass over the graph, read like one result."""

    def __init__(self, results: Sequence[dg.ExecuteInProcessResult]) -> None:
        self.results = list(results)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def all_events(self) -> list[dg.DagsterEvent]:
        return [e for r in self.results for e in r.all_events]

    def materialized(self) -> set[str]:
        return {
            e.asset_key.to_user_string()
            for r in self.results
            for e in r.get_asset_materialization_events()
        }

    def asset_materializations_for_node(self, node: str) -> list[dg.AssetMaterialization]:
        return [m for r in self.results for m in r.asset_materializations_for_node(node)]


def run_graph(
    settings: Settings,
    first: date,
    last: date,
    selection: dg.AssetSelection,
    instance: dg.DagsterInstance | None = None,
) -> Runs:
    """The selected assets over the actuals of [first, last], each calendar in its own run, in
    the order the graph needs: the Feast registry, the actuals, the forecast days that have a
    day before them (first + 1 .. last + 1), then the unpartitioned assets that read them.
    Selections below the champion (predictions, monitoring) have their own tests."""
    from mlops_assets.definitions import ASSETS

    instance = instance or dg.DagsterInstance.ephemeral()
    graph = dg.Definitions(assets=ASSETS, resources=build_resources(settings)).resolve_asset_graph()
    keys = selection.resolve(graph)
    one_day = timedelta(days=1)

    def of(
        keys_here: set[dg.AssetKey], days: tuple[date, date] | None
    ) -> dg.ExecuteInProcessResult:
        tags = {}
        if days:
            tags = {
                "dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[1].isoformat(),
            }
        return dg.materialize(
            ASSETS,
            selection=dg.AssetSelection.assets(*keys_here),
            tags=tags,
            resources=build_resources(settings),
            instance=instance,
            raise_on_error=False,
        )

    def calendar(key: dg.AssetKey) -> str:
        partitions = graph.get(key).partitions_def
        if partitions is None:
            return "root" if not graph.get(key).parent_keys else "after"
        return "forecast" if partitions.end_offset else "actuals"

    plan = [
        ("root", None),
        ("actuals", (first, last)),
        ("forecast", (first + one_day, last + one_day)),
        ("after", None),
    ]
    results = []
    for name, days in plan:
        here = {k for k in keys if calendar(k) == name}
        if here:
            results.append(of(here, days))
            if not results[-1].success:
                break
    return Runs(results)


def warehouse_rows(settings: Settings, table: str, days: Sequence[str] | None = None) -> int:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        sql = f"select count(*) from staging.{table}"
        if days:
            sql += " where partition_day in (" + ",".join(f"'{d}'" for d in days) + ")"
        return con.execute(sql).fetchone()[0]


def step_events(result: dg.ExecuteInProcessResult, kind: str) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == kind}
