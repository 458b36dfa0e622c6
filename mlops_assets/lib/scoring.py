"""Batch scoring of a day and its realised error: what the predictions and monitoring assets do,
without Dagster. Features come in already joined point-in-time, exactly as for training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.validation import day_window

if TYPE_CHECKING:
    from mlops_assets.lib.families import Forecaster

PREDICTION = "prediction_kwh"
# champion; challenger for shadow predictions; each baseline of forecasting.BASELINES by name
ROLE = "model_role"
VERSION = "model_version"
BASELINE_VERSION = "baseline"
ORIGIN = "origin"  # the information cut-off: 00:00 UTC of the target day
ISSUED_AT = "issued_at"  # when the row was actually written (later than the origin in backfills)
PREDICTIONS_SCHEMA = {
    ENTITY: pl.String,
    TIMESTAMP: pl.Datetime("us", "UTC"),
    fc.HORIZON: pl.Int64,
    ROLE: pl.String,
    VERSION: pl.String,
    PREDICTION: pl.Float64,
    ORIGIN: pl.Datetime("us", "UTC"),
    ISSUED_AT: pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class ScoringModel:
    role: str
    version: str
    forecaster: Forecaster


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


def score_day(
    features: pl.DataFrame,
    models: Sequence[ScoringModel],
    day: date,
    issued_at: datetime | None = None,
) -> pl.DataFrame:
    """One row per segment, target hour and forecaster: the forecast made at the day's origin by
    each model, and by each naive baseline beside them (so realised error compares like with
    like). Every row carries its origin, the moment it was issued and the model version."""
    origin, _ = day_window(day)
    issued = issued_at or datetime.now(UTC)
    keys = fc.with_horizon(features).select(ENTITY, TIMESTAMP, fc.HORIZON)
    forecasts = [
        (model.role, model.version, model.forecaster.predict(features)) for model in models
    ] + [
        (name, BASELINE_VERSION, features.get_column(column).to_numpy())
        for name, column in fc.BASELINES.items()
    ]
    frames = [
        keys.with_columns(
            pl.lit(role).alias(ROLE),
            pl.lit(version).alias(VERSION),
            # No level (too little history) means no forecast: null, never NaN.
            pl.Series(PREDICTION, values, dtype=pl.Float64).fill_nan(None),
            pl.lit(origin).dt.cast_time_unit("us").alias(ORIGIN),
            pl.lit(issued).dt.cast_time_unit("us").alias(ISSUED_AT),
        )
        for role, version, values in forecasts
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
