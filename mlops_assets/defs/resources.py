"""Resources, built in one place from the settings so environments switch by variables only."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from dagster_dbt import DbtCliResource

from mlops_assets.defs.staging.project import DBT_EXECUTABLE, dbt_project
from mlops_assets.feature_repo import offline
from mlops_assets.lib.features import FEATURE_NAMES
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.lib.ingest import IngestPolicy
from mlops_assets.lib.lake import Lake, write_parquet_atomic
from mlops_assets.lib.sources import SourceConfig
from mlops_assets.lib.validation import Limits
from mlops_assets.settings import Settings


class RawSourceResource(dg.ConfigurableResource):
    """Where raw data comes from: the generator, the Energi Data Service API or landing files."""

    kind: str
    landing_dir: str
    api_base_url: str
    seed: int
    price_areas: list[str]
    n_consumer_types: int

    def config(self) -> SourceConfig:
        return SourceConfig(
            kind=self.kind,
            landing_dir=Path(self.landing_dir),
            api_base_url=self.api_base_url,
            generator=GeneratorConfig(
                seed=self.seed,
                price_areas=tuple(self.price_areas),
                n_consumer_types=self.n_consumer_types,
            ),
        )


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake the raw assets write to and dbt reads from."""

    root: str

    def lake(self) -> Lake:
        return Lake(Path(self.root))


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file dbt builds the staging tables in."""

    path: str


class FeatureStoreResource(dg.ConfigurableResource):
    """Feast: the offline Parquet partitions, the registry and the online store."""

    directory: str
    registry: str = ""
    online_redis: str = ""

    @property
    def offline_dir(self) -> Path:
        return offline.offline_dir(Path(self.directory))

    def store(self) -> Any:
        # feast costs seconds to import: only steps that use the store pay for it.
        from mlops_assets.feature_repo.store import feature_store

        return feature_store(Path(self.directory), self.registry, self.online_redis)

    def write_day(self, day: date, frame: pl.DataFrame) -> Path:
        """Replace the offline partition of `day` (never appended, so re-runs can't duplicate)."""
        return offline.write_partition(self.offline_dir, day, frame)

    def apply(self) -> dict[str, Any]:
        from mlops_assets.feature_repo.store import apply_repo

        objects = apply_repo(self.store(), Path(self.directory))
        view = objects.feature_view
        return {
            "feature_view": view.name,
            "features": len(view.features),
            "ttl_hours": view.ttl.total_seconds() / 3600 if view.ttl else 0.0,
            "on_demand_view": objects.on_demand_view.name,
            "feature_service": objects.feature_service.name,
            "entity": objects.entity.name,
            "registry": self.registry or str(Path(self.directory) / "registry.db"),
        }

    def materialize(self, days: list[date]) -> dict[str, Any]:
        """Load each day's latest row per segment into the online store, oldest day first."""
        from mlops_assets.feature_repo.store import materialize_day

        store = self.store()
        for day in sorted(days):
            materialize_day(store, day)
        return {"days": len(days), "online_store": self.online_redis or "sqlite"}

    def point_in_time_join(self, entity_df: pl.DataFrame) -> pl.DataFrame:
        from mlops_assets.feature_repo.repo import TTL
        from mlops_assets.feature_repo.retrieval import point_in_time_join

        return point_in_time_join(entity_df, self.offline_dir, FEATURE_NAMES, TTL)

    def write_training_set(self, frame: pl.DataFrame) -> Path:
        path = Path(self.directory) / "training_sets" / "training_set.parquet"
        return write_parquet_atomic(frame, path)


class IngestPolicyResource(dg.ConfigurableResource):
    """The validation thresholds and the quarantine folder of raw ingestion."""

    quarantine_dir: str
    price_areas: list[str]
    max_missing_hours_share: float
    max_total_con_kwh: float
    min_temperature_c: float
    max_temperature_c: float
    skew_z_score: float
    skew_lookback_days: int

    def policy(self) -> IngestPolicy:
        return IngestPolicy(
            limits=Limits(
                max_missing_hours_share=self.max_missing_hours_share,
                max_total_con_kwh=self.max_total_con_kwh,
                min_temperature_c=self.min_temperature_c,
                max_temperature_c=self.max_temperature_c,
            ),
            price_areas=tuple(self.price_areas),
            quarantine_dir=Path(self.quarantine_dir),
            skew_z_score=self.skew_z_score,
            skew_lookback_days=self.skew_lookback_days,
        )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource the definitions need, configured from `settings`."""
    t = settings.thresholds
    return {
        "source": RawSourceResource(
            kind=settings.source.value,
            landing_dir=str(settings.landing_dir),
            api_base_url=settings.api_base_url,
            seed=settings.generator_seed,
            price_areas=list(settings.price_areas),
            n_consumer_types=settings.n_consumer_types,
        ),
        "lake": LakeResource(root=str(settings.lake_dir)),
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "feature_store": FeatureStoreResource(
            directory=str(settings.feature_store_dir),
            registry=settings.feast_registry,
            online_redis=settings.feast_online_redis,
        ),
        "ingest_policy": IngestPolicyResource(
            quarantine_dir=str(settings.quarantine_dir),
            price_areas=list(settings.price_areas),
            max_missing_hours_share=t.limits.max_missing_hours_share,
            max_total_con_kwh=t.limits.max_total_con_kwh,
            min_temperature_c=t.limits.min_temperature_c,
            max_temperature_c=t.limits.max_temperature_c,
            skew_z_score=t.skew_z_score,
            skew_lookback_days=t.skew_lookback_days,
        ),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    }
