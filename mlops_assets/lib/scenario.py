"""Generated history run through the production feature and training code, without Dagster:
what the drift and forecast benches and their tests start from.

`generate` stages generated consumption and weather forecasts and builds each day's features
from its own origin exactly as `consumption_features` does; `Generated.labelled` joins the
realised consumption, giving the training set's shape; `train_like_production` splits, fits,
refits and samples the drift reference as `candidate_model` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from mlops_assets.lib import families
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import (
    ENTITY,
    LABEL,
    LOOKBACK_HOURS,
    TIMESTAMP,
    build_daily_features,
    build_features,
    staged_window,
)
from mlops_assets.lib.generator import (
    GeneratorConfig,
    generate_consumption,
    generate_weather_forecast,
)
from mlops_assets.lib.staging import stage_consumption, stage_weather_forecast
from mlops_assets.lib.training import TrainingConfig, reference_sample


def utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Generated:
    """Staged generated inputs and the features of each requested day."""

    config: GeneratorConfig
    consumption: pl.DataFrame  # stg_consumption's shape, from the look-back of the first day
    weather: pl.DataFrame  # stg_weather_forecast's shape
    features: dict[date, pl.DataFrame]

    def labelled(self, days: Sequence[date]) -> pl.DataFrame:
        """The features of `days` with their realised consumption: a training set."""
        features = pl.concat([self.features[d] for d in days])
        return features.join(labels(self.consumption), on=[ENTITY, TIMESTAMP])


def labels(consumption: pl.DataFrame) -> pl.DataFrame:
    """Staged consumption as the labels a training set joins: segment, UTC hour, label."""
    return consumption.select(
        pl.col("segment_id").alias(ENTITY),
        pl.col("hour_utc").dt.replace_time_zone("UTC").alias(TIMESTAMP),
        pl.col(LABEL),
    )


def one_window_training_set(
    start: datetime, end: datetime, config: GeneratorConfig
) -> pl.DataFrame:
    """Generated history staged, the features of [start, end) built in one window (one
    `build_features` call, not day by day) and the labels joined: a real training set, cheaply."""
    history_start, _ = staged_window(start, end)
    consumption = stage_consumption(generate_consumption(history_start, end, config))
    forecasts = stage_weather_forecast(generate_weather_forecast(start, end, config))
    features = build_features(consumption, forecasts, start, end)
    return features.join(labels(consumption), on=[ENTITY, TIMESTAMP])


def generate(config: GeneratorConfig, days: Sequence[date]) -> Generated:
    """Generate and stage everything the features of `days` read, and build them day by day."""
    start, end = utc(min(days)), utc(max(days)) + timedelta(days=1)
    weather = stage_weather_forecast(generate_weather_forecast(start, end, config))
    consumption = stage_consumption(
        generate_consumption(start - timedelta(hours=LOOKBACK_HOURS), end, config)
    )
    return Generated(config, consumption, weather, build_daily_features(consumption, weather, days))


def train_like_production(
    frame: pl.DataFrame,
    config: TrainingConfig | None = None,
    model_families: Sequence[str] = ("xgboost",),
) -> tuple[families.Forecaster, pl.DataFrame]:
    """The model `candidate_model` would register from `frame` (default split, families chosen
    on validation and refit) and its drift reference sample."""
    config = config or TrainingConfig()
    split = fc.time_split(frame, config.validation_days, config.test_days)
    selection = families.select(split, fc.BoosterParams(), config.seed, model_families)
    fitted_on = pl.concat([split.train, split.validation])
    return selection.forecaster, reference_sample(fitted_on, selection.forecaster, config.seed)
