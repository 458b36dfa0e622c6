"""Resources, built in one place from the settings so environments switch by variables only."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from dagster_dbt import DbtCliResource

from mlops_assets.defs.staging.project import DBT_EXECUTABLE, dbt_project
from mlops_assets.feature_repo import offline
from mlops_assets.lib.features import ENTITY
from mlops_assets.lib.forecasting import GatePolicy
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.lib.ingest import IngestPolicy
from mlops_assets.lib.lake import Lake, write_parquet_atomic
from mlops_assets.lib.registry import Registry
from mlops_assets.lib.sources import SourceConfig
from mlops_assets.lib.training import TrainingConfig
from mlops_assets.lib.validation import ExpectedSegments, Limits, Plausibility
from mlops_assets.settings import MonitoringPolicy, Settings


class RawSourceResource(dg.ConfigurableResource):
    """Where raw data comes from: the generator, the Energi Data Service API or landing files."""

    kind: str
    landing_dir: str
    api_base_url: str
    landing_uri: str = ""
    settle_seconds: float = 10.0
    seed: int
    price_areas: list[str]
    n_consumer_types: int

    def config(self) -> SourceConfig:
        return SourceConfig(
            kind=self.kind,
            landing_dir=Path(self.landing_dir),
            api_base_url=self.api_base_url,
            landing_uri=self.landing_uri,
            settle_seconds=self.settle_seconds,
            generator=GeneratorConfig(
                seed=self.seed,
                price_areas=tuple(self.price_areas),
                n_consumer_types=self.n_consumer_types,
            ),
        )


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake the raw assets write to and dbt reads from."""

    root: str
    # s3://bucket/prefix: every partition is also written there (through dagster-aws's S3
    # client) and fetched from there when the local copy is missing.
    uri: str = ""

    def lake(self) -> Lake:
        if not self.uri:
            return Lake(Path(self.root))
        from dagster_aws.s3 import S3Resource

        from mlops_assets.lib.object_store import S3Mirror

        return Lake(Path(self.root), S3Mirror(self.uri, S3Resource().get_client()))


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

    def segments_on(self, day: date) -> list[str]:
        """The segments with features for `day` in the offline store (empty if none)."""
        path = offline.partition_path(self.offline_dir, day)
        if not path.exists():
            return []
        return pl.read_parquet(path, columns=[ENTITY]).get_column(ENTITY).unique().to_list()

    def features_for(self, entity_df: pl.DataFrame) -> pl.DataFrame:
        """Point-in-time features for (segment, hour) rows: the join training uses."""
        from mlops_assets.feature_repo.repo import TTL
        from mlops_assets.feature_repo.retrieval import point_in_time_join_by_day

        return point_in_time_join_by_day(entity_df, self.offline_dir, TTL)

    def training_set(self, warehouse: Path, start: datetime, end: datetime) -> pl.DataFrame:
        """Labels of [start, end) joined point-in-time with the offline features."""
        from mlops_assets.feature_repo.retrieval import labelled_training_set

        return labelled_training_set(warehouse, self.offline_dir, start, end)

    @property
    def training_set_path(self) -> Path:
        return Path(self.directory) / "training_sets" / "training_set.parquet"

    def write_training_set(self, frame: pl.DataFrame) -> Path:
        # LZ4: an intermediate file read once by training; about twice as fast to write as zstd.
        return write_parquet_atomic(frame, self.training_set_path, compression="lz4")


class ModelRegistryResource(dg.ConfigurableResource):
    """MLflow tracking and model registry: sqlite:/// in the data folder, or a tracking server."""

    tracking_uri: str
    artifact_location: str = ""
    experiment: str = "consumption_forecast"
    model_name: str = "consumption_forecaster"
    ui_url: str = ""

    def registry(self) -> Registry:
        return Registry(
            tracking_uri=self.tracking_uri,
            artifact_location=self.artifact_location,
            experiment=self.experiment,
            model_name=self.model_name,
            ui_url=self.ui_url,
        )


class ModelPolicyResource(dg.ConfigurableResource):
    """How models are trained (split, search budget, seed) and what the promotion gate demands."""

    # Defaults come from the lib dataclasses, so there is one place to change them.
    validation_days: int = TrainingConfig.validation_days
    test_days: int = TrainingConfig.test_days
    search_trials: int = TrainingConfig.search_trials
    search_time_limit_s: float = TrainingConfig.search_time_limit_s
    seed: int = TrainingConfig.seed
    families: list[str] = list(TrainingConfig.families)  # noqa: RUF012 (pydantic copies it)
    max_training_days: int = TrainingConfig.max_training_days
    max_training_rows: int = TrainingConfig.max_training_rows
    cluster: str = TrainingConfig.cluster  # MLOPS_TRAINING_CLUSTER: a Dask scheduler, or empty
    baseline_margin: float = GatePolicy.baseline_margin
    significance: float = GatePolicy.significance
    category_tolerance: float = GatePolicy.category_tolerance

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(
            validation_days=self.validation_days,
            test_days=self.test_days,
            search_trials=self.search_trials,
            search_time_limit_s=self.search_time_limit_s,
            seed=self.seed,
            families=tuple(self.families),
            max_training_days=self.max_training_days,
            max_training_rows=self.max_training_rows,
            cluster=self.cluster,
        )

    def gate_policy(self) -> GatePolicy:
        return GatePolicy(
            baseline_margin=self.baseline_margin,
            significance=self.significance,
            category_tolerance=self.category_tolerance,
        )


class MonitoringPolicyResource(dg.ConfigurableResource):
    """How drift is measured and where reports go."""

    reports_dir: str
    reference_cache_dir: str
    sample_rows: int = MonitoringPolicy.drift_sample_rows
    method: str = MonitoringPolicy.drift_method
    column_threshold: float = MonitoringPolicy.drift_column_threshold


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
    segments_lookback_days: int
    expected_consumer_types: list[int]
    allow_segment_loss: bool
    max_level_ratio: float
    flat_hours: int

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
            segments=ExpectedSegments(
                lookback_days=self.segments_lookback_days,
                declared_consumer_types=tuple(self.expected_consumer_types),
                allow_loss=self.allow_segment_loss,
            ),
            plausibility=Plausibility(
                max_level_ratio=self.max_level_ratio, flat_hours=self.flat_hours
            ),
        )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource the definitions need, configured from `settings`."""
    t = settings.thresholds
    return {
        "source": RawSourceResource(
            kind=settings.source.value,
            landing_dir=str(settings.landing_dir),
            api_base_url=settings.api_base_url,
            landing_uri=settings.landing_uri,
            settle_seconds=settings.landing_settle_seconds,
            seed=settings.generator_seed,
            price_areas=list(settings.price_areas),
            n_consumer_types=settings.n_consumer_types,
        ),
        "lake": LakeResource(root=str(settings.lake_dir), uri=settings.lake_uri),
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
            segments_lookback_days=t.segments.lookback_days,
            expected_consumer_types=list(t.segments.declared_consumer_types),
            allow_segment_loss=t.segments.allow_loss,
            max_level_ratio=t.plausibility.max_level_ratio,
            flat_hours=t.plausibility.flat_hours,
        ),
        "model_registry": ModelRegistryResource(
            tracking_uri=settings.tracking_uri,
            artifact_location=settings.artifact_location,
            experiment=settings.mlflow_experiment,
            model_name=settings.model_name,
            ui_url=settings.mlflow_ui_url,
        ),
        "model_policy": ModelPolicyResource(
            **dataclasses.asdict(settings.training), **dataclasses.asdict(settings.gate)
        ),
        "monitoring": MonitoringPolicyResource(
            reports_dir=str(settings.data_dir / "reports"),
            reference_cache_dir=str(settings.data_dir / "mlflow" / "reference_cache"),
            sample_rows=settings.monitoring.drift_sample_rows,
            method=settings.monitoring.drift_method,
            column_threshold=settings.monitoring.drift_column_threshold,
        ),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    }
