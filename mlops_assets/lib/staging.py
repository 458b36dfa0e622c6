"""The dbt staging models mirrored in polars, for tests and benchmarks that skip the warehouse.

The SQL in `dbt_project/models/staging/` is what the pipeline runs; this keeps the same column names
and types so generated raw data can feed `features.build_features` directly.
"""

import polars as pl

from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    HOUR_UTC,
    ISSUE_UTC,
    PRICE_AREA,
    TEMPERATURE,
    TOTAL_CON,
)


def stage_consumption(raw: pl.DataFrame) -> pl.DataFrame:
    """Raw consumption (ConsumptionDE35Hour schema) as `stg_consumption` columns."""
    return raw.select(
        pl.col(HOUR_UTC).dt.replace_time_zone(None).alias("hour_utc"),
        pl.col(PRICE_AREA).alias("price_area"),
        pl.col(CONSUMER_TYPE).alias("consumer_type"),
        pl.concat_str(PRICE_AREA, pl.lit("-"), CONSUMER_TYPE).alias("segment_id"),
        pl.col(TOTAL_CON).alias("total_consumption_kwh"),
    )


def stage_weather(raw: pl.DataFrame) -> pl.DataFrame:
    """Raw weather as `stg_weather` columns."""
    return raw.select(
        pl.col(HOUR_UTC).dt.replace_time_zone(None).alias("hour_utc"),
        pl.col(PRICE_AREA).alias("price_area"),
        pl.col(TEMPERATURE).alias("temperature_c"),
    )


def stage_weather_forecast(raw: pl.DataFrame) -> pl.DataFrame:
    """Raw weather forecasts as `stg_weather_forecast` columns."""
    return raw.select(
        pl.col(ISSUE_UTC).dt.replace_time_zone(None).alias("issue_utc"),
        pl.col(HOUR_UTC).dt.replace_time_zone(None).alias("hour_utc"),
        pl.col(PRICE_AREA).alias("price_area"),
        pl.col(TEMPERATURE).alias("temperature_c"),
    )
