"""Features in polars, stored in Feast: offline partitions, the registry, the online store and
the point-in-time training set."""

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from mlops_assets.defs.partitions import (
    ACTUALS_BEFORE_ORIGIN,
    SAME_DAY,
    daily_partitions,
    forecast_partitions,
)
from mlops_assets.defs.resources import (
    FeatureStoreResource,
    ModelPolicyResource,
    WarehouseResource,
)
from mlops_assets.feature_repo.repo import OWNER, repo_fingerprint
from mlops_assets.lib import features as features_module
from mlops_assets.lib import warehouse as staged
from mlops_assets.lib.features import ENTITY, FEATURES, LABEL, build_daily_features
from mlops_assets.lib.markdown import markdown_table

STAGED_CONSUMPTION_KEY = dg.AssetKey(["staging", "stg_consumption"])
STAGED_WEATHER_FORECAST_KEY = dg.AssetKey(["staging", "stg_weather_forecast"])


def feature_catalog() -> dg.TableMetadataValue:
    """Every feature with dtype, owner and description: the catalog shown in the UI."""
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "feature": f.name,
                    "dtype": str(f.dtype),
                    "owner": OWNER,
                    "description": f.description,
                }
            )
            for f in FEATURES
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("feature", "string"),
                dg.TableColumn("dtype", "string"),
                dg.TableColumn("owner", "string"),
                dg.TableColumn("description", "string"),
            ]
        ),
    )


def _column_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(f.name, str(f.dtype), description=f.description) for f in FEATURES]
    )


@dg.asset(
    description="Forecasting features per segment and target hour of day D (polars), from what "
    "was known at D's origin (00:00 UTC): consumption staged through D-1 and the newest weather "
    "forecast issued by then. Runs as soon as D-1 is staged, before any hour of D has happened; "
    "one Parquet file per day in Feast's offline store.",
    partitions_def=forecast_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(STAGED_CONSUMPTION_KEY, partition_mapping=ACTUALS_BEFORE_ORIGIN),
        dg.AssetDep(STAGED_WEATHER_FORECAST_KEY, partition_mapping=SAME_DAY),
    ],
    group_name="features",
    owners=[OWNER],
    kinds={"polars", "feast", "parquet"},
    code_version="2",
    # Reads the DuckDB warehouse, which dbt may be writing.
    pool="duckdb",
    metadata={"dagster/column_schema": _column_schema()},
)
def consumption_features(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    feature_store: FeatureStoreResource,
) -> dg.MaterializeResult:
    start, end = context.partition_time_window
    days = [date.fromisoformat(k) for k in context.partition_keys]
    db = Path(warehouse.path)
    # The day before each origin must be staged (not before the calendar starts, where the
    # history is simply shorter); the target days' own actuals are never read.
    day_before = [d - timedelta(days=1) for d in days]
    try:
        first = daily_partitions.start.date()
        staged.require_days(db, staged.STAGED_CONSUMPTION, [d for d in day_before if d >= first])
        staged.require_days(db, staged.STAGED_WEATHER_FORECAST, days)
    except staged.MissingUpstreamError as missing:
        # A Failure shows its description in the run view, without a stack trace to dig through.
        raise dg.Failure(description=str(missing)) from missing
    history_start, _ = features_module.staged_window(start, end)
    last_origin = features_module.origin_of(days[-1])
    consumption = staged.read_window(
        db,
        staged.STAGED_CONSUMPTION,
        history_start,
        last_origin,
        list(features_module.CONSUMPTION_COLUMNS),
    )
    weather = staged.read_window(
        db, staged.STAGED_WEATHER_FORECAST, start, end, list(features_module.WEATHER_COLUMNS)
    )
    started = time.monotonic()
    by_day = build_daily_features(consumption, weather, days)
    took = time.monotonic() - started
    paths = [feature_store.write_day(day, frame) for day, frame in by_day.items()]
    frame = pl.concat(by_day.values())
    context.log.info(f"{frame.height} feature rows for {len(days)} day(s) in {took:.2f}s")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "segments": frame.get_column(ENTITY).n_unique(),
            "origin": features_module.origin_of(days[0]).isoformat()
            if len(days) == 1
            else f"00:00 UTC of each day, {days[0]} .. {days[-1]}",
            "consumption_through": (last_origin - timedelta(hours=1)).isoformat(),
            "weather_forecast_issued": _newest_issue(weather, days),
            "null_share_temperature": float(
                frame.get_column("temperature_c").is_null().mean() or 0.0
            ),
            "first_hour": start.isoformat(),
            "last_hour": (end - timedelta(hours=1)).isoformat(),
            "history_from": history_start.isoformat(),
            "null_share_lag_168h": float(frame.get_column("lag_168h").is_null().mean() or 0.0),
            "rows_per_second": round(frame.height / took) if took > 0 else 0,
            "offline_path": dg.MetadataValue.path(str(paths[0].parent)),
            "feature_catalog": feature_catalog(),
            "preview": dg.MetadataValue.md(markdown_table(frame.head(5))),
        }
    )


@dg.asset(
    description="The Feast registry: entity, sources, feature views and services applied from "
    "code; re-runs when the definitions change.",
    group_name="features",
    owners=[OWNER],
    kinds={"feast"},
    code_version=repo_fingerprint(),
)
def feature_registry(feature_store: FeatureStoreResource) -> dg.MaterializeResult:
    summary = feature_store.apply()
    return dg.MaterializeResult(
        metadata={
            **summary,
            "feature_catalog": feature_catalog(),
        }
    )


@dg.asset(
    description="Feast online store (SQLite by default): the latest features of each segment. A "
    "range loads only its newest day (the store keeps one row per segment, so older days are dead "
    "work), and a day older than one already loaded loads nothing: re-running an old forecast "
    "day, as a correction does, never puts older values over newer ones.",
    partitions_def=forecast_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[consumption_features, feature_registry],
    group_name="features",
    owners=[OWNER],
    kinds={"feast", "sqlite"},
    code_version="2",
)
def online_features(
    context: dg.AssetExecutionContext, feature_store: FeatureStoreResource
) -> dg.MaterializeResult:
    newest = max(date.fromisoformat(k) for k in context.partition_keys)
    loaded = [
        date.fromisoformat(k)
        for k in context.instance.get_materialized_partitions(context.asset_key)
    ]
    ahead = max(loaded, default=None)
    window = f"{context.partition_keys[0]} .. {context.partition_keys[-1]}"
    if ahead is not None and ahead > newest:
        context.log.info(f"online store already holds {ahead}, newer than {window}: nothing loaded")
        return dg.MaterializeResult(
            metadata={"loaded_day": "none", "online_store_day": ahead.isoformat(), "seconds": 0.0}
        )
    started = time.monotonic()
    summary = feature_store.materialize([newest])
    took = time.monotonic() - started
    context.log.info(f"loaded {newest} (the newest day of {window}) in {took:.2f}s")
    return dg.MaterializeResult(
        metadata={
            **summary,
            "loaded_day": newest.isoformat(),
            "online_store_day": newest.isoformat(),
            "seconds": took,
        }
    )


class TrainingSetConfig(dg.Config):
    """Which target hours the training set covers: `days` before `end_date`, or with days = 0
    every staged day that has a day before it, capped at the newest MLOPS_TRAINING_MAX_DAYS."""

    days: int = 0
    end_date: str = ""  # YYYY-MM-DD, exclusive; empty = the day after the newest staged data


@dg.asset(
    description="Labels (realised consumption) joined point-in-time with the features each "
    "target hour had, over a configurable window; Parquet for training.",
    deps=[consumption_features, STAGED_CONSUMPTION_KEY],
    group_name="features",
    owners=[OWNER],
    kinds={"duckdb", "feast", "parquet"},
    code_version="1",
    pool="duckdb",
)
def training_set(
    context: dg.AssetExecutionContext,
    config: TrainingSetConfig,
    warehouse: WarehouseResource,
    feature_store: FeatureStoreResource,
    model_policy: ModelPolicyResource,
) -> dg.MaterializeResult:
    db = Path(warehouse.path)
    end = _training_end(db, config.end_date)
    start = _training_start(db, end, config.days, model_policy.max_training_days)
    context.log.info(
        f"training window [{start:%Y-%m-%d}, {end:%Y-%m-%d}): {(end - start).days} day(s)"
        + ("" if config.days else f" (every staged day, at most {model_policy.max_training_days})")
    )
    started = time.monotonic()
    frame = feature_store.training_set(db, start, end)
    took = time.monotonic() - started
    path = feature_store.write_training_set(frame)
    label = frame.get_column(LABEL)
    context.log.info(f"training set of {frame.height} rows joined in {took:.2f}s -> {path}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "window": f"[{start.isoformat()}, {end.isoformat()})",
            "features": dg.MetadataValue.json([f.name for f in FEATURES]),
            "label_min": float(label.min() or 0.0),  # type: ignore[arg-type]
            "label_mean": float(label.mean() or 0.0),  # type: ignore[arg-type]
            "label_max": float(label.max() or 0.0),  # type: ignore[arg-type]
            "rows_without_features": int(frame.get_column("lag_24h").is_null().sum()),
            "join_seconds": round(took, 3),
            "path": dg.MetadataValue.path(str(path)),
            "preview": dg.MetadataValue.md(markdown_table(frame.head(5))),
        }
    )


def _newest_issue(weather: pl.DataFrame, days: list[date]) -> str:
    """The newest forecast issue the last day's features used (issued at or before its origin)."""
    origin = features_module.origin_of(days[-1]).replace(tzinfo=None)
    used = weather.filter(pl.col("issue_utc") <= origin).get_column("issue_utc")
    return f"{used.max()} UTC" if used.len() else "none: no forecast issued by the origin"


def _training_start(db: Path, end: datetime, days: int, max_days: int) -> datetime:
    """`days` before `end`; with 0, from the first staged day that has a staged day before it
    (its features need D-1), but never more than `max_days` before `end`."""
    if days > 0:
        return end - timedelta(days=days)
    first = staged.oldest_day(db, staged.STAGED_CONSUMPTION) + timedelta(days=1)
    oldest = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return max(oldest, end - timedelta(days=max_days))


def _training_end(db: Path, end_date: str) -> datetime:
    if end_date:
        day = date.fromisoformat(end_date)
    else:
        newest = staged.newest_day(db, staged.STAGED_CONSUMPTION)
        day = newest + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
