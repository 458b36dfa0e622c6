"""Batch scoring of a day or a range of days and its realised error: what the predictions and
monitoring assets do, without Dagster. Features come in already joined point-in-time, exactly as
for training."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.validation import day_window

if TYPE_CHECKING:
    import numpy as np

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


# Rows scored in one pass of a range: each model predicts a chunk of whole days at once. At 7,600
# segments (182k rows a day) that is 10 days; the model inputs of a chunk (float32, ~35 columns)
# and its forecast frames stay under ~1 GB, where 56 days in one pass would take several GB.
SCORING_CHUNK_ROWS = 2_000_000


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


def range_entities(segments_by_day: Mapping[date, Sequence[str]]) -> pl.DataFrame:
    """The entity frames of several days one after the other, in the order given: one
    point-in-time join serves the whole range and `by_day` splits its result again."""
    frames = [day_entities(segments, day) for day, segments in segments_by_day.items()]
    if not frames:
        return pl.DataFrame(schema={ENTITY: pl.String, TIMESTAMP: pl.Datetime("us", "UTC")})
    return pl.concat(frames)


def by_day(frame: pl.DataFrame, days: Sequence[date]) -> dict[date, pl.DataFrame]:
    """The rows of each of `days` (UTC days of the target hour), sliced in place; a frame built
    from `range_entities` keeps each day's rows together, so each slice is that day's own frame
    in its own order. A day without rows gets an empty frame."""
    day = pl.col(TIMESTAMP).dt.convert_time_zone("UTC").dt.date()
    runs = frame.select(day.rle()).unnest(day.meta.output_name()).rows()
    seen = [value for _, value in runs]
    if len(set(seen)) != len(seen) or not set(seen) <= set(days):
        raise ValueError(
            f"by_day: the frame's UTC days run {seen}, each day must appear once, in one block, "
            f"and be one of {[d.isoformat() for d in days]}; build it with range_entities"
        )
    slices, offset = {}, 0
    for length, value in runs:
        slices[value] = frame.slice(offset, length)
        offset += length
    return {d: slices.get(d, frame.clear()) for d in days}


def score_day(
    features: pl.DataFrame,
    models: Sequence[ScoringModel],
    day: date,
    issued_at: datetime | None = None,
) -> pl.DataFrame:
    """One row per segment, target hour and forecaster: the forecast made at the day's origin by
    each model, and by each naive baseline beside them (so realised error compares like with
    like). Every row carries its origin, the moment it was issued and the model version."""
    return _day_frame(features, _forecasts(features, models), day, issued_at or datetime.now(UTC))


def score_days(
    features: pl.DataFrame,
    models: Sequence[ScoringModel],
    days: Sequence[date],
    issued_at: datetime | None = None,
    chunk_rows: int = SCORING_CHUNK_ROWS,
) -> Iterator[tuple[date, pl.DataFrame]]:
    """Each day's `score_day` frame, row for row, from the joined features of a range (built
    with `range_entities`): every model predicts a chunk of whole days in one call."""
    issued = issued_at or datetime.now(UTC)
    per_day = by_day(features, days)
    for chunk in _chunks(per_day, chunk_rows):
        rows = pl.concat([per_day[d] for d in chunk])
        forecasts = _forecasts(rows, models)
        offset = 0
        for day in chunk:
            height = per_day[day].height
            own = [
                (role, version, values[offset : offset + height])
                for role, version, values in forecasts
            ]
            yield day, _day_frame(per_day[day], own, day, issued)
            offset += height


def _chunks(per_day: Mapping[date, pl.DataFrame], chunk_rows: int) -> Iterator[list[date]]:
    """Consecutive days in groups of at most `chunk_rows` rows (a bigger day alone)."""
    chunk: list[date] = []
    rows = 0
    for day, frame in per_day.items():
        if chunk and rows + frame.height > chunk_rows:
            yield chunk
            chunk, rows = [], 0
        chunk.append(day)
        rows += frame.height
    if chunk:
        yield chunk


def _forecasts(
    features: pl.DataFrame, models: Sequence[ScoringModel]
) -> list[tuple[str, str, np.ndarray]]:
    """Each model's forecast of every row, and each naive baseline's, with role and version."""
    return [(model.role, model.version, model.forecaster.predict(features)) for model in models] + [
        (name, BASELINE_VERSION, features.get_column(column).to_numpy())
        for name, column in fc.BASELINES.items()
    ]


def _day_frame(
    features: pl.DataFrame,
    forecasts: Sequence[tuple[str, str, np.ndarray]],
    day: date,
    issued: datetime,
) -> pl.DataFrame:
    origin, _ = day_window(day)
    keys = fc.with_horizon(features).select(ENTITY, TIMESTAMP, fc.HORIZON)
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


def with_champion_forecast(features: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """A day's features with the champion's forecast of each row as `prediction` (null where it
    made none): what the drift report compares."""
    champion = predictions.filter(pl.col(ROLE) == "champion").select(
        ENTITY, TIMESTAMP, pl.col(PREDICTION).alias(fc.PREDICTION)
    )
    return features.join(champion, on=[ENTITY, TIMESTAMP]).with_columns(
        pl.col(fc.PREDICTION).fill_nan(None)
    )


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
