"""Monitoring: realised error of each day's forecasts once actuals land, and Evidently drift of
the features and predictions against the champion's training reference."""

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.assets import STAGED_CONSUMPTION_KEY, consumption_features
from mlops_assets.defs.model.assets import registry_failure
from mlops_assets.defs.partitions import SAME_DAY, daily_partitions, forecast_partitions
from mlops_assets.defs.predictions.assets import PREDICTIONS_TABLE, batch_predictions
from mlops_assets.defs.resources import (
    FeatureStoreResource,
    LakeResource,
    ModelRegistryResource,
    MonitoringPolicyResource,
    WarehouseResource,
)
from mlops_assets.feature_repo.repo import OWNER
from mlops_assets.lib import drift, scoring
from mlops_assets.lib import warehouse as staged
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.markdown import markdown_table
from mlops_assets.lib.registry import CHAMPION, RegistryError, RegistryUnavailable
from mlops_assets.lib.validation import day_window

PERFORMANCE_TABLE = "prediction_performance"
# Consumption-derived inputs and the forecast itself (lib/drift.py says which). Calendar
# features are functions of the date and always "drift" for a single day against weeks of
# reference; weather is exogenous.
MONITORED = list(drift.MONITORED)


def per_partition(
    context: dg.AssetExecutionContext, metadata_by_day: Mapping[date, dict[str, Any]]
) -> Iterator[dg.MaterializeResult]:
    """Each day keeps its own metadata (so the UI plots it per partition), also in range runs."""
    if len(metadata_by_day) == 1:
        yield dg.MaterializeResult(metadata=next(iter(metadata_by_day.values())))
        return
    for day, metadata in metadata_by_day.items():
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key, partition=day.isoformat(), metadata=metadata
            )
        )


@dg.asset(
    description="Realised error of day D's forecasts once D's actuals are staged: WAPE, MAE and "
    "MAPE overall and per segment, for the champion, the shadow challenger and each naive "
    "baseline. A day inside the scoring model's training window is marked in_sample; the "
    "performance sensor ignores it.",
    deps=[
        dg.AssetDep(batch_predictions, partition_mapping=SAME_DAY),
        dg.AssetDep(STAGED_CONSUMPTION_KEY, partition_mapping=SAME_DAY),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="monitoring",
    owners=[OWNER],
    kinds={"polars", "parquet"},
    code_version="2",
    output_required=False,
    pool="duckdb",
)
def prediction_performance(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    model_registry: ModelRegistryResource,
) -> Iterator[dg.MaterializeResult]:
    store = lake.lake()
    windows = _TrainingWindows(model_registry)
    metadata_by_day = {}
    for day in (date.fromisoformat(k) for k in context.partition_keys):
        predictions = store.read(PREDICTIONS_TABLE, [day])
        if predictions is None:
            raise dg.Failure(f"prediction_performance {day}: no batch_predictions for {day}")
        actuals = staged.read_window(
            Path(warehouse.path),
            staged.STAGED_CONSUMPTION,
            *day_window(day),
            ["segment_id", "hour_utc", LABEL],
        ).select(
            pl.col("segment_id").alias(ENTITY),
            pl.col("hour_utc").dt.replace_time_zone("UTC").alias(TIMESTAMP),
            pl.col(LABEL),
        )
        scores = scoring.realised(predictions, actuals)
        if "champion" not in scores:
            raise dg.Failure(f"prediction_performance {day}: no actuals have landed for {day} yet")
        rows = scoring.performance_rows(day, scores)
        path = store.write(PERFORMANCE_TABLE, day, rows)
        champion = scores["champion"]
        if champion.overall["rows"] == 0:
            context.log.warning(f"{day}: the champion had no forecast with full features")
            metadata_by_day[day] = {"status": "skipped: no forecast with full features"}
            continue
        version = predictions.filter(pl.col(scoring.ROLE) == "champion").item(0, scoring.VERSION)
        window = windows.of(version)
        in_sample = window is not None and window[0] <= day <= window[1]
        worst = champion.per_segment.sort("mape", descending=True).head(5)
        metadata = {
            "status": "scored",
            "in_sample": in_sample,
            "training_window": f"{window[0]}..{window[1]}" if window else "unknown",
            "champion_version": version,
            **{f"{role}_{k}": v for role, e in scores.items() for k, v in _figures(e).items()},
            "hours_scored": int(champion.overall["rows"]),
            "path": dg.MetadataValue.path(str(path)),
            "worst_segments": dg.MetadataValue.md(
                markdown_table(worst.select(ENTITY, "mae", "mape"))
            ),
        }
        sample = "IN SAMPLE (inside the training window)" if in_sample else "out of sample"
        context.log.info(f"{day}: champion MAPE {champion.overall['mape']:.2f}%, {sample}")
        metadata_by_day[day] = metadata
    yield from per_partition(context, metadata_by_day)


def _figures(evaluation: Any) -> dict[str, float]:
    """The overall scale-free and absolute figures of one forecaster, as flat metadata."""
    return {
        k: float(evaluation.overall[k]) for k in ("wape", "mape", "mae") if k in evaluation.overall
    }


class _TrainingWindows:
    """The first and last day of each model version's training set (its `training_window` tag),
    read from the registry once per version."""

    def __init__(self, model_registry: ModelRegistryResource) -> None:
        self._resource = model_registry
        self._known: dict[str, tuple[date, date] | None] = {}

    def of(self, version: str) -> tuple[date, date] | None:
        if version not in self._known:
            try:
                tag = self._resource.registry().version(version).tags.get("training_window", "")
            except (RegistryUnavailable, RegistryError) as error:
                raise registry_failure(error) from error
            first, _, last = tag.partition("..")
            self._known[version] = (
                (date.fromisoformat(first), date.fromisoformat(last)) if last else None
            )
        return self._known[version]


@dg.asset(
    description="Evidently data drift of day D's consumption features and forecasts, relative to "
    "each segment's level, against the champion's training rows of the same weekday and hours, "
    "measured right after D's forecast is issued; HTML report linked.",
    deps=[consumption_features, batch_predictions],
    partitions_def=forecast_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="monitoring",
    owners=[OWNER],
    kinds={"evidently", "html"},
    code_version="1",
    output_required=False,
)
def drift_report(
    context: dg.AssetExecutionContext,
    feature_store: FeatureStoreResource,
    lake: LakeResource,
    model_registry: ModelRegistryResource,
    monitoring: MonitoringPolicyResource,
) -> Iterator[dg.MaterializeResult]:
    from mlops_assets.lib.drift import compare, prepare_reference
    from mlops_assets.lib.drift import drift_report as evidently_drift

    registry = model_registry.registry()
    try:
        champion = registry.by_alias(CHAMPION)
        if champion is None:
            raise dg.Failure("drift_report: no champion yet, so no training reference")
        reference = registry.reference(champion.version, Path(monitoring.reference_cache_dir))
    except (RegistryUnavailable, RegistryError) as error:
        raise registry_failure(error) from error
    days = [date.fromisoformat(k) for k in context.partition_keys]
    # Once per range: the reference made comparable, and one point-in-time join for every day.
    prepared = prepare_reference(reference, MONITORED)
    segments = {day: feature_store.segments_on(day) for day in days}
    features_by_day = scoring.by_day(
        feature_store.features_for(scoring.range_entities(segments)), days
    )
    store = lake.lake()
    metadata_by_day = {}
    for day, features in features_by_day.items():
        predictions = store.read(PREDICTIONS_TABLE, [day])
        if predictions is None:
            raise dg.Failure(f"drift_report {day}: no batch_predictions for {day}")
        # Only rows with their full history compare like for like with the training reference.
        current = scoring.with_champion_forecast(features, predictions).drop_nulls(MONITORED)
        if current.is_empty():
            context.log.warning(f"{day}: no row has every monitored feature yet; no drift report")
            metadata_by_day[day] = {"status": "skipped: not enough history for the features"}
            continue
        # Same weekday and hour, ordinary days, consumption relative to the segment's level.
        comparison = compare(prepared, current)
        if comparison.skipped:
            context.log.warning(f"{day}: no drift report: {comparison.skipped}")
            metadata_by_day[day] = {"status": f"skipped: {comparison.skipped}"}
            continue
        html = Path(monitoring.reports_dir) / f"drift_{day.isoformat()}.html"
        result = evidently_drift(
            comparison.reference,
            comparison.current,
            comparison.columns,
            max_rows=monitoring.sample_rows,
            method=monitoring.method,
            threshold=monitoring.column_threshold,
            html_path=html,
        )
        context.log.info(
            f"{day}: {result.n_drifted}/{result.n_columns} columns drifted "
            f"({result.share_drifted:.2f}) vs champion v{champion.version}"
        )
        metadata_by_day[day] = {
            "status": "compared",
            "drift_share": result.share_drifted,
            "drifted_columns": dg.MetadataValue.json(result.drifted_columns),
            "n_drifted": result.n_drifted,
            "n_columns": result.n_columns,
            "method": f"{result.method} (threshold {result.threshold})",
            "reference": f"champion v{champion.version}: {comparison.subset}",
            "reference_rows": result.reference_rows,
            "champion_version": champion.version,
            "current_rows": result.current_rows,
            "sampled": result.sampled,
            "seconds": round(result.seconds, 2),
            "report": dg.MetadataValue.path(str(html)),
            "scores": dg.MetadataValue.md(
                markdown_table(
                    pl.DataFrame(
                        {"column": list(result.scores), "score": list(result.scores.values())}
                    )
                )
            ),
        }
    yield from per_partition(context, metadata_by_day)
