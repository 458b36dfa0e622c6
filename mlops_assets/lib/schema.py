"""Column names and types of the datasets, shared by sources, validation, the lake and dbt.

Consumption follows Energi Data Service's `ConsumptionDE35Hour`; weather (observed) and weather
forecasts are our companion datasets. A forecast row says when it was issued (`IssueUTC`, the moment
it became available) and which hour it is for (`HourUTC`); a day's forecast partition holds every
issue for that day's 24 target hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

HOUR_UTC = "HourUTC"
HOUR_DK = "HourDK"
PRICE_AREA = "PriceArea"
CONSUMER_TYPE = "ConsumerType_DE35"
TOTAL_CON = "TotalCon"
TEMPERATURE = "Temperature"
ISSUE_UTC = "IssueUTC"

PRICE_AREAS: tuple[str, ...] = ("DK1", "DK2")
DANISH_TZ = "Europe/Copenhagen"


@dataclass(frozen=True)
class DatasetSchema:
    """The columns of one dataset, its key and its measured value."""

    name: str
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]
    value: str

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    @property
    def segment(self) -> tuple[str, ...]:
        """The key without the hour: one time series per segment (per issue, for forecasts)."""
        return tuple(c for c in self.key if c != HOUR_UTC)

    @property
    def series(self) -> tuple[str, ...]:
        """The segment without the issue time: what stays the same from one day to the next."""
        return tuple(c for c in self.segment if c != ISSUE_UTC)


CONSUMPTION = DatasetSchema(
    name="consumption",
    columns={
        HOUR_UTC: pl.Datetime("us", "UTC"),
        HOUR_DK: pl.Datetime("us"),
        PRICE_AREA: pl.String(),
        CONSUMER_TYPE: pl.Int32(),
        TOTAL_CON: pl.Float64(),
    },
    key=(HOUR_UTC, PRICE_AREA, CONSUMER_TYPE),
    value=TOTAL_CON,
)

WEATHER = DatasetSchema(
    name="weather",
    columns={
        HOUR_UTC: pl.Datetime("us", "UTC"),
        PRICE_AREA: pl.String(),
        TEMPERATURE: pl.Float64(),
    },
    key=(HOUR_UTC, PRICE_AREA),
    value=TEMPERATURE,
)

WEATHER_FORECAST = DatasetSchema(
    name="weather_forecast",
    columns={
        ISSUE_UTC: pl.Datetime("us", "UTC"),
        HOUR_UTC: pl.Datetime("us", "UTC"),
        PRICE_AREA: pl.String(),
        TEMPERATURE: pl.Float64(),
    },
    key=(ISSUE_UTC, HOUR_UTC, PRICE_AREA),
    value=TEMPERATURE,
)

DATASETS: dict[str, DatasetSchema] = {s.name: s for s in (CONSUMPTION, WEATHER, WEATHER_FORECAST)}
