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
from mlops_assets.defs.partitions import daily_partitions
from mlops_assets.defs.predictions.assets import PREDICTIONS_TABLE, batch_predictions
from mlops_assets.defs.resources import (
    FeatureStoreResource,
    LakeResource,
    ModelRegistryResource,
    MonitoringPolicyResource,
    WarehouseResource,
)
from mlops_assets.feature_repo.repo import OWNER
from mlops_assets.lib import scoring
from mlops_assets.lib import warehouse as staged
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.forecasting import SCALED
from mlops_assets.lib.markdown import markdown_table
from mlops_assets.lib.registry import CHAMPION, RegistryError, RegistryUnavailable
from mlops_assets.lib.validation import day_window

PERFORMANCE_TABLE = "prediction_performance"
# The consumption-derived inputs (those the model scales by the level) and the forecast itself.
# Calendar features are functions of the date and always "drift" for a single day against weeks
# of reference; weather is exogenous.
MONITORED = [*SCALED, "prediction"]


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
    description="Realised MAE and MAPE of each day's forecasts against the actuals, overall and "
    "per segment, for the champion and the shadow challenger; numeric metadata per day.",
    deps=[batch_predictions, STAGED_CONSUMPTION_KEY],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="monitoring",
    owners=[OWNER],
    kinds={"polars", "parquet"},
    code_version="1",
    output_required=False,
    pool="duckdb",
)
def prediction_performance(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    store = lake.lake()
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
        worst = champion.per_segment.sort("mape", descending=True).head(5)
        metadata = {
            "status": "scored",
            "champion_mae": champion.overall["mae"],
            "champion_mape": champion.overall["mape"],
            "champion_version": predictions.filter(pl.col(scoring.ROLE) == "champion").item(
                0, scoring.VERSION
            ),
            "hours_scored": int(champion.overall["rows"]),
            "path": dg.MetadataValue.path(str(path)),
            "worst_segments": dg.MetadataValue.md(
                markdown_table(worst.select(ENTITY, "mae", "mape"))
            ),
        }
        if "challenger" in scores:
            metadata["challenger_mae"] = scores["challenger"].overall["mae"]
            metadata["challenger_mape"] = scores["challenger"].overall["mape"]
        context.log.info(f"{day}: champion MAPE {champion.overall['mape']:.2f}%")
        metadata_by_day[day] = metadata
    yield from per_partition(context, metadata_by_day)


@dg.asset(
    description="Evidently data drift of the consumption features and the forecasts of the day "
    "against the champion's training reference (both sides sampled); HTML report linked.",
    deps=[consumption_features, batch_predictions],
    partitions_def=daily_partitions,
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
    from mlops_assets.lib.drift import drift_report as evidently_drift

    registry = model_registry.registry()
    try:
        champion = registry.by_alias(CHAMPION)
        if champion is None:
            raise dg.Failure("drift_report: no champion yet, so no training reference")
        reference = registry.reference(champion.version, Path(monitoring.reference_cache_dir))
    except (RegistryUnavailable, RegistryError) as error:
        raise registry_failure(error) from error
    metadata_by_day = {}
    for day in (date.fromisoformat(k) for k in context.partition_keys):
        features = feature_store.features_for(
            scoring.day_entities(feature_store.segments_on(day), day)
        )
        predictions = lake.lake().read(PREDICTIONS_TABLE, [day])
        if predictions is None:
            raise dg.Failure(f"drift_report {day}: no batch_predictions for {day}")
        current = features.join(
            predictions.filter(pl.col(scoring.ROLE) == "champion").select(
                ENTITY, TIMESTAMP, pl.col(scoring.PREDICTION).alias("prediction")
            ),
            on=[ENTITY, TIMESTAMP],
        )
        # Only rows with their full history compare like for like with the training reference.
        current = current.with_columns(pl.col("prediction").fill_nan(None)).drop_nulls(MONITORED)
        if current.is_empty():
            context.log.warning(f"{day}: no row has every monitored feature yet; no drift report")
            metadata_by_day[day] = {"status": "skipped: not enough history for the features"}
            continue
        html = Path(monitoring.reports_dir) / f"drift_{day.isoformat()}.html"
        result = evidently_drift(
            reference,
            current,
            MONITORED,
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
            "reference": f"champion v{champion.version}, {result.reference_rows} rows",
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
