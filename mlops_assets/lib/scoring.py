"""Batch scoring of a day and its realised error: what the predictions and monitoring assets do,
without Dagster. Features come in already joined point-in-time, exactly as for training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.validation import day_window

if TYPE_CHECKING:
    import xgboost as xgb

PREDICTION = "prediction_kwh"
ROLE = "model_role"  # champion, or challenger for shadow predictions
VERSION = "model_version"
PREDICTIONS_SCHEMA = {
    ENTITY: pl.String,
    TIMESTAMP: pl.Datetime("us", "UTC"),
    fc.HORIZON: pl.Int64,
    ROLE: pl.String,
    VERSION: pl.String,
    PREDICTION: pl.Float64,
    "origin": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class ScoringModel:
    role: str
    version: str
    booster: xgb.Booster


def day_entities(segments: Sequence[str], day: date) -> pl.DataFrame:
    """Every segment x the 24 target hours of `day` (UTC): the entity frame of a day's forecast."""
    start, _ = day_window(day)
    hours = pl.datetime_range(
        start, start + timedelta(hours=23), "1h", time_unit="us", time_zone="UTC", eager=True
    )
    return (
        pl.DataFrame({ENTITY: sorted(segments)}, schema={ENTITY: pl.String})
        .join(pl.DataFrame({TIMESTAMP: hours}), how="cross")
        .sort(TIMESTAMP, ENTITY)
    )


def score_day(features: pl.DataFrame, models: Sequence[ScoringModel], day: date) -> pl.DataFrame:
    """One row per segment, target hour and model: the forecast made at the day's origin."""
    origin, _ = day_window(day)
    frames = [
        fc.with_horizon(features)
        .select(ENTITY, TIMESTAMP, fc.HORIZON)
        .with_columns(
            pl.lit(model.role).alias(ROLE),
            pl.lit(model.version).alias(VERSION),
            # No level (too little history) means no forecast: null, never NaN.
            pl.Series(PREDICTION, fc.predict(model.booster, features), dtype=pl.Float64).fill_nan(
                None
            ),
            pl.lit(origin).dt.cast_time_unit("us").alias("origin"),
        )
        for model in models
    ]
    return pl.concat(frames).cast(PREDICTIONS_SCHEMA).select(list(PREDICTIONS_SCHEMA))  # type: ignore[arg-type]


def realised(predictions: pl.DataFrame, actuals: pl.DataFrame) -> dict[str, fc.Evaluation]:
    """Realised metrics (WAPE first, as the performance trigger reads it) per model role, on the
    hours whose actuals have landed."""
    joined = predictions.join(
        actuals.select(ENTITY, TIMESTAMP, LABEL).filter(pl.col(LABEL).is_not_null()),
        on=[ENTITY, TIMESTAMP],
        how="inner",
    )
    return {
        role: fc.evaluate(joined.filter(pl.col(ROLE) == role), PREDICTION, role)
        for role in sorted(joined.get_column(ROLE).unique().to_list())
    }


def performance_rows(day: date, scores: Mapping[str, fc.Evaluation]) -> pl.DataFrame:
    """One row per role and segment (segment "ALL" for the overall figures), stored daily."""
    frames = []
    for role, evaluation in scores.items():
        overall = pl.DataFrame([{ENTITY: "ALL", **evaluation.overall}])
        per_segment = evaluation.per_segment
        frames.append(
            pl.concat([overall, per_segment], how="diagonal_relaxed").with_columns(
                pl.lit(role).alias(ROLE), pl.lit(day).alias("day")
            )
        )
    return pl.concat(frames, how="diagonal_relaxed").select(
        "day", ROLE, ENTITY, "wape", "mae", "rmse", "mape", "r2", pl.col("rows").cast(pl.Int64)
    )
