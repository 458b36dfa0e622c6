"""Batch predictions: each day's 24 hourly forecasts for every segment from the champion, with
shadow predictions of the challenger and the naive baselines beside them.

The forecast for day D is issued at its origin, D 00:00 UTC: it runs as soon as D-1's consumption
and D's weather forecast are staged, and is in the lake before any hour of D has happened.
"""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.assets import consumption_features
from mlops_assets.defs.model.assets import champion_model, registry_failure
from mlops_assets.defs.partitions import forecast_partitions
from mlops_assets.defs.resources import FeatureStoreResource, LakeResource, ModelRegistryResource
from mlops_assets.feature_repo.repo import OWNER
from mlops_assets.lib import scoring
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.markdown import markdown_table
from mlops_assets.lib.registry import (
    CHALLENGER,
    CHAMPION,
    Registry,
    RegistryError,
    RegistryUnavailable,
)

PREDICTIONS_TABLE = "predictions"


def _models(registry: Registry) -> list[scoring.ScoringModel]:
    champion = registry.by_alias(CHAMPION)
    if champion is None:
        raise dg.Failure(
            description=f"{registry.model_name} has no champion yet: materialize candidate_model "
            "and champion_model (training_job) before scoring",
            allow_retries=False,
        )
    models = [
        scoring.ScoringModel(
            "champion", champion.version, registry.load_forecaster(champion.version)
        )
    ]
    challenger = registry.by_alias(CHALLENGER)
    if challenger is not None and challenger.version != champion.version:
        forecaster = registry.load_forecaster(challenger.version)
        models.append(scoring.ScoringModel("challenger", challenger.version, forecaster))
    return models


@dg.asset(
    description="Day-ahead forecasts of every segment's 24 hours of day D from the champion "
    "(with shadow forecasts of the challenger and the naive baselines), issued at D's origin "
    "(00:00 UTC) from features known then, before any actual of D exists; Parquet in the lake, "
    "one file per day, each row stamped with its origin, issue time and model version.",
    deps=[consumption_features, champion_model],
    partitions_def=forecast_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="predictions",
    owners=[OWNER],
    kinds={"xgboost", "parquet", "feast"},
    code_version="2",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL),
)
def batch_predictions(
    context: dg.AssetExecutionContext,
    feature_store: FeatureStoreResource,
    model_registry: ModelRegistryResource,
    lake: LakeResource,
) -> dg.MaterializeResult:
    try:
        models = _models(model_registry.registry())
    except (RegistryUnavailable, RegistryError) as error:
        raise registry_failure(error) from error
    days = [date.fromisoformat(k) for k in context.partition_keys]
    segments = {day: feature_store.segments_on(day) for day in days}
    missing = [day.isoformat() for day, found in segments.items() if not found]
    if missing:
        raise dg.Failure(
            description=f"batch_predictions partition(s) {', '.join(missing)}: the offline "
            "store has no features for them; materialize consumption_features for them first",
            allow_retries=False,
        )
    issued_at = datetime.now(UTC)
    # One point-in-time join and one scoring pass per chunk of days for the whole range; each
    # day is still written and recorded on its own.
    features = feature_store.features_for(scoring.range_entities(segments))
    store = lake.lake()
    metadata_by_day = {}
    for i, (day, frame) in enumerate(scoring.score_days(features, models, days, issued_at), 1):
        path = store.write(PREDICTIONS_TABLE, day, frame)
        metadata_by_day[day] = _day_metadata(day, frame, models, issued_at, path, store)
        context.log.info(f"[{i}/{len(days)}] {day}: {frame.height} forecasts -> {path}")
    if len(days) == 1:
        return dg.MaterializeResult(metadata=metadata_by_day[days[0]])
    for day, metadata in metadata_by_day.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
    rows = sum(int(m["dagster/row_count"]) for m in metadata_by_day.values())
    return dg.MaterializeResult(
        metadata={"range": f"{days[0]}..{days[-1]}", "range_days": len(days), "range_rows": rows}
    )


def _day_metadata(
    day: date,
    frame: pl.DataFrame,
    models: list[scoring.ScoringModel],
    issued_at: datetime,
    path: Path,
    store: Lake,
) -> dict[str, Any]:
    """What the partition of `day` records: its own rows, segments, forecast and file."""
    champion = frame.filter(pl.col(scoring.ROLE) == "champion")
    return {
        "dagster/row_count": frame.height,
        "days": 1,
        "segments": champion.get_column("segment_id").n_unique(),
        "champion_version": models[0].version,
        "origin": f"{day} 00:00 UTC",
        "issued_at": issued_at.isoformat(timespec="seconds"),
        "challenger_version": models[1].version if len(models) > 1 else "none",
        "mean_forecast_kwh": float(champion.get_column(scoring.PREDICTION).mean() or 0.0),  # type: ignore[arg-type]
        "path": dg.MetadataValue.path(str(path)),
        "query": dg.MetadataValue.md(
            f"```sql\nselect * from read_parquet('{store.glob(PREDICTIONS_TABLE)}', "
            "hive_partitioning = true)\n```"
        ),
        "preview": dg.MetadataValue.md(markdown_table(champion.head(5))),
    }
