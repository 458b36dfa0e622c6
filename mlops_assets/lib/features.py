"""Forecasting features: one implementation for training, batch scoring and online serving.

Point-in-time rule: a forecast for target day D is issued at its origin, D 00:00 UTC, and every
value it uses was known then. The feature row of target hour `t` uses consumption observed at or
before `t - 24 h` only (for each of D's hours that is an hour of D-1 or earlier, complete by the
origin), and the temperature of `t` from the newest weather forecast issued at or before the
origin, never the observed temperature. Training rows are built the same way, so training sees
exactly the inputs serving has. So lags are 24, 48, 168 and 336 h; rolling windows end at the
cut-off (hours t-47..t-24 and t-191..t-24), or a week before it, and need at least half their
hours observed. Lags count clock hours on a complete hourly grid per segment: a missing hour
yields a null, it never shifts a lag onto a neighbouring hour.

Load curves follow the kind of day: `day_type` (Monday, Tuesday-Friday, Saturday, Sunday or
holiday) and `weekday_naive`, the same hour of the newest comparable day, carry that into the
features; the calendar is Danish unless a `Calendar` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from mlops_assets.lib.holidays import holiday_mask
from mlops_assets.lib.schema import DANISH_TZ

ENTITY = "segment_id"
TIMESTAMP = "event_timestamp"
LABEL = "total_consumption_kwh"
CUTOFF_HOURS = 24
# The longest look-back a feature needs: two weeks before the cut-off.
LOOKBACK_HOURS = CUTOFF_HOURS + 336


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the catalog: name, polars dtype and what it means."""

    name: str
    dtype: pl.DataType
    description: str


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("price_area", pl.String(), "Price area of the segment, DK1 or DK2."),
    FeatureSpec("consumer_type", pl.Int64(), "DE35 consumer type code of the segment."),
    FeatureSpec("hour_of_day", pl.Int64(), "Hour of the target hour in Danish local time, 0-23."),
    FeatureSpec("day_of_week", pl.Int64(), "Weekday of the target hour, local time, 0=Monday."),
    FeatureSpec("month", pl.Int64(), "Month of the target hour, local time, 1-12."),
    FeatureSpec("is_weekend", pl.Int64(), "1 if the target hour falls on Saturday or Sunday."),
    FeatureSpec("is_holiday", pl.Int64(), "1 if the target hour's local date is a Danish holiday."),
    FeatureSpec("lag_24h", pl.Float64(), "Consumption 24 h before the target hour (kWh)."),
    FeatureSpec("lag_48h", pl.Float64(), "Consumption 48 h before the target hour (kWh)."),
    FeatureSpec("lag_168h", pl.Float64(), "Consumption one week before: same hour last week."),
    FeatureSpec("lag_336h", pl.Float64(), "Consumption two weeks before: same hour and weekday."),
    FeatureSpec(
        "day_type",
        pl.Int64(),
        "Day type of the target hour's local date: 0 Monday, 1 Tuesday to Friday, 2 Saturday, "
        "3 Sunday or holiday.",
    ),
    FeatureSpec(
        "holiday_yesterday", pl.Int64(), "1 if the local date before the target's was a holiday."
    ),
    FeatureSpec(
        "holiday_last_week", pl.Int64(), "1 if the same local weekday a week before was a holiday."
    ),
    FeatureSpec(
        "weekday_naive",
        pl.Float64(),
        "Same hour of the newest comparable day: yesterday for Tuesday to Friday after a working "
        "day, the same weekday last week otherwise (two weeks back when last week's was a "
        "holiday), the latest Sunday for a holiday.",
    ),
    FeatureSpec(
        "day_type_mean_2w",
        pl.Float64(),
        "Mean consumption at the same hour on the days of the target's day type in the two weeks "
        "before (up to eight Tuesday-Friday days, two Mondays, Saturdays or Sundays/holidays).",
    ),
    FeatureSpec(
        "same_hour_mean_2w",
        pl.Float64(),
        "Mean consumption at the same hour one and two weeks before (168 h and 336 h).",
    ),
    FeatureSpec(
        "rolling_mean_24h", pl.Float64(), "Mean consumption of the 24 hours ending at the cut-off."
    ),
    FeatureSpec(
        "rolling_std_24h",
        pl.Float64(),
        "Std of consumption over the 24 hours ending at the cut-off.",
    ),
    FeatureSpec(
        "rolling_mean_168h", pl.Float64(), "Mean consumption of the week ending at the cut-off."
    ),
    FeatureSpec(
        "rolling_std_168h", pl.Float64(), "Std of consumption over the week ending at the cut-off."
    ),
    FeatureSpec(
        "rolling_mean_24h_last_week",
        pl.Float64(),
        "Mean consumption of the 24 hours ending a week before the cut-off: the same day type as "
        "rolling_mean_24h, so their ratio is the day-to-day change of level.",
    ),
    FeatureSpec(
        "rolling_mean_168h_last_week",
        pl.Float64(),
        "Mean consumption of the week ending a week before the cut-off: with rolling_mean_168h, "
        "the week-on-week change of level.",
    ),
    FeatureSpec(
        "temperature_c",
        pl.Float64(),
        "Forecast air temperature at the target hour: the newest forecast issued at or before "
        "the origin (00:00 UTC of the target day).",
    ),
    FeatureSpec("heating_degrees", pl.Float64(), "max(0, 17 - temperature): heating demand."),
    FeatureSpec("cooling_degrees", pl.Float64(), "max(0, temperature - 22): cooling demand."),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_SCHEMA: dict[str, pl.DataType] = {
    ENTITY: pl.String(),
    TIMESTAMP: pl.Datetime("us", "UTC"),
    **{f.name: f.dtype for f in FEATURES},
}

# Staged (dbt) columns build_features reads, with the dtype family each must have.
CONSUMPTION_COLUMNS: dict[str, str] = {
    "hour_utc": "datetime",
    "price_area": "string",
    "consumer_type": "integer",
    ENTITY: "string",
    LABEL: "numeric",
}
WEATHER_COLUMNS: dict[str, str] = {
    "issue_utc": "datetime",
    "hour_utc": "datetime",
    "price_area": "string",
    "temperature_c": "numeric",
}
HEATING_BASE_C = 17.0
COOLING_BASE_C = 22.0
# A rolling window with fewer observed hours than this share yields null rather than a guess.
MIN_WINDOW_SHARE = 0.5

_US_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = "_hour"
_AREA = "price_area"


@dataclass(frozen=True)
class Calendar:
    """Where the calendar features are read: the local time zone of hours, weekdays and day
    types, and which local dates are holidays (`None`: none). Danish by default; a series from
    elsewhere (a benchmark on public load data) brings its own."""

    timezone: str = DANISH_TZ
    holidays: Callable[[np.ndarray], np.ndarray] | None = holiday_mask


DANISH = Calendar()


def staged_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The consumption hours [start - LOOKBACK_HOURS, end) that features of [start, end) read."""
    _hour_index(start, "start")
    _hour_index(end, "end")
    return start - timedelta(hours=LOOKBACK_HOURS), end


def origin_of(day: date) -> datetime:
    """The origin of the forecast for target day `day`: 00:00 UTC of that day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def build_features(
    consumption: pl.DataFrame,
    weather: pl.DataFrame,
    start: datetime,
    end: datetime,
    calendar: Calendar = DANISH,
) -> pl.DataFrame:
    """Feature rows (FEATURES_SCHEMA) of every staged segment and target hour in [start, end)."""
    first, stop = _hour_index(start, "start"), _hour_index(end, "end")
    if stop < first:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()}).")
    _require_columns(consumption, "stg_consumption", CONSUMPTION_COLUMNS)
    _require_columns(weather, "stg_weather_forecast", WEATHER_COLUMNS)
    grid_first = first - LOOKBACK_HOURS
    n_grid, n_out = stop - grid_first, stop - first

    staged = (
        consumption.lazy()
        .select(
            _hour_offset(consumption, "stg_consumption", grid_first),
            pl.col(ENTITY),
            pl.col(_AREA),
            pl.col("consumer_type").cast(pl.Int64),
            pl.col(LABEL).cast(pl.Float64),
        )
        .filter(pl.col(_HOUR).is_between(0, n_grid, closed="left"))
        .collect()
    )
    segments, segment_code = _segments(staged)
    n_segments = segments.height

    # Dense segment-major grid: position = segment * n_grid + hour, so a plain shift by k is a
    # lag of k hours and a missing hour stays a null in its own place.
    position = segment_code * n_grid + staged.get_column(_HOUR)
    _require_unique(position, n_segments * n_grid, "stg_consumption", f"({ENTITY}, hour_utc)")
    label = pl.repeat(None, n_segments * n_grid, dtype=pl.Float64, eager=True).alias(LABEL)
    label.scatter(position, staged.get_column(LABEL))

    row = pl.int_range(n_segments * n_out, dtype=pl.Int64, eager=True)
    segment_row, hour_row = row // n_out, row % n_out
    # Output rows never reach before their own segment's grid (the deepest look-back is
    # LOOKBACK_HOURS), so shifting and rolling over the concatenated grid never mix segments.
    in_output = pl.int_range(n_segments * n_grid, dtype=pl.Int64, eager=True) % n_grid
    history = _history(label, in_output >= LOOKBACK_HOURS)
    areas = segments.get_column(_AREA).unique().sort()
    area_code = segments.get_column(_AREA).cast(pl.Enum(areas)).to_physical().cast(pl.Int64)
    frame = pl.concat(
        [
            segments.gather(segment_row),
            ((hour_row + first) * _US_PER_HOUR)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
            .alias(TIMESTAMP)
            .to_frame(),
            _calendar(first, n_out, calendar).gather(hour_row),
            _past_calendar(first, n_out, calendar).gather(hour_row),
            history,
            _weather(weather, areas, first, n_out).gather(
                area_code.gather(segment_row) * n_out + hour_row
            ),
        ],
        how="horizontal",
    )
    return frame.with_columns(_weekday_naive(), _day_type_mean()).select(
        pl.col(c).cast(t) for c, t in FEATURES_SCHEMA.items()
    )


# The day lags the day-type features read: every day back to two weeks before the target.
DAY_LAGS = range(1, 15)


def _past_calendar(first: int, n_hours: int, calendar: Calendar) -> pl.DataFrame:
    """Per target hour: whether yesterday and the same weekday last week were holidays, and the
    day type of each of the 14 days before (`_day_type_<k>d`)."""
    past = {days: _calendar(first - 24 * days, n_hours, calendar) for days in DAY_LAGS}
    return pl.DataFrame(
        {
            "holiday_yesterday": past[1].get_column("is_holiday"),
            "holiday_last_week": past[7].get_column("is_holiday"),
            **{f"_day_type_{days}d": past[days].get_column("day_type") for days in DAY_LAGS},
        }
    )


def _day_type_mean() -> pl.Expr:
    """The mean of the same hour on every day of the target's day type in the two weeks before
    (up to eight for Tuesday-Friday, two for the others): the day type's shape, with the noise
    of one day averaged out."""
    return pl.mean_horizontal(
        *(
            pl.when(pl.col(f"_day_type_{days}d") == pl.col("day_type")).then(
                pl.col(f"_lag_{days}d")
            )
            for days in DAY_LAGS
        )
    ).alias("day_type_mean_2w")


def build_daily_features(
    consumption: pl.DataFrame,
    weather: pl.DataFrame,
    days: Sequence[date],
    calendar: Calendar = DANISH,
) -> dict[date, pl.DataFrame]:
    """Features of each UTC day, each built from its own look-back window and only from what was
    known at the day's origin: consumption before it, forecasts issued at or before it.

    Rolling sums accumulate rounding along the series, so one long window and day-by-day windows
    differ in the last bits. Building every day from the same window makes a day's features
    identical however a backfill range is cut: offline, online and training always agree.
    """
    out: dict[date, pl.DataFrame] = {}
    for day in days:
        start = origin_of(day)
        end = start + timedelta(days=1)
        history, _ = staged_window(start, end)
        known = consumption.filter(
            pl.col("hour_utc").is_between(_naive(history), _naive(start), closed="left")
        )
        forecasts = weather.filter(
            pl.col("hour_utc").is_between(_naive(start), _naive(end), closed="left")
        )
        out[day] = build_features(known, forecasts, start, end, calendar)
    return out


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _history(label: pl.Series, in_output: pl.Series) -> pl.DataFrame:
    """Lags and rolling statistics of the grid's label at the output rows `in_output` marks."""
    y = pl.col(LABEL)
    windows = {
        f"rolling_{stat}_{hours}h": (
            y.rolling_mean(hours, min_samples=_min_samples(hours))
            if stat == "mean"
            else y.rolling_std(hours, min_samples=_min_samples(hours), ddof=1)
        )
        for hours in (24, 168)
        for stat in ("mean", "std")
    }
    grid = label.to_frame().with_columns(**windows)

    def before(column: str, hours: int) -> pl.Expr:
        # Row p - k of the grid for every output row p: filter by the mask moved k rows up,
        # which is cheaper than shifting the data.
        return pl.col(column).filter(pl.lit(in_output.shift(-hours, fill_value=False)))

    # A window ending at the cut-off t - 24 h is the rolling value of grid row t - 24 h.
    return grid.select(
        *(before(LABEL, days * 24).alias(f"_lag_{days}d") for days in DAY_LAGS),
        before(LABEL, CUTOFF_HOURS).alias("lag_24h"),
        before(LABEL, CUTOFF_HOURS + 24).alias("lag_48h"),
        before(LABEL, 168).alias("lag_168h"),
        before(LABEL, 336).alias("lag_336h"),
        pl.mean_horizontal(before(LABEL, 168), before(LABEL, 336)).alias("same_hour_mean_2w"),
        *(before(name, CUTOFF_HOURS).alias(name) for name in windows),
        *(
            before(f"rolling_mean_{hours}h", CUTOFF_HOURS + 168).alias(
                f"rolling_mean_{hours}h_last_week"
            )
            for hours in (24, 168)
        ),
    )


def _weekday_naive() -> pl.Expr:
    """The weekday-aware naive forecast from the calendar and the day lags `_lag_<k>d`.

    Tuesday to Friday resemble the working day before them; Monday, the weekend and the day after
    a holiday resemble the same weekday last week (or two weeks back when that one was a holiday);
    a holiday resembles the latest Sunday (k = weekday + 1 days back, Monday = 0)."""
    sunday = pl.coalesce(
        *(
            pl.when(pl.col("day_of_week") == days - 1).then(pl.col(f"_lag_{days}d"))
            for days in range(1, 8)
        )
    )
    return (
        pl.when(pl.col("is_holiday") == 1)
        .then(sunday)
        .when(pl.col("day_of_week").is_between(1, 4) & (pl.col("holiday_yesterday") == 0))
        .then(pl.col("lag_24h"))
        .when(pl.col("holiday_last_week") == 0)
        .then(pl.col("lag_168h"))
        .otherwise(pl.col("lag_336h"))
        .alias("weekday_naive")
    )


def _min_samples(hours: int) -> int:
    return max(2, int(hours * MIN_WINDOW_SHARE))


def _segments(staged: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """One row per segment, sorted by segment_id, and each staged row's index into it."""
    if staged.get_column(ENTITY).null_count():
        raise ValueError(
            "stg_consumption has rows with a null segment_id; every row must name its segment. "
            "Check price_area and consumer_type in the staging model."
        )
    names = staged.get_column(ENTITY).unique().sort()
    code = staged.get_column(ENTITY).cast(pl.Enum(names)).to_physical().cast(pl.Int64)
    # The staging model derives segment_id from the other two, so its first row speaks for all.
    first_rows = code.arg_unique()
    segments = (
        staged.select(ENTITY, _AREA, "consumer_type")
        .gather(first_rows)
        .with_columns(code.gather(first_rows).alias("_code"))
        .sort("_code")
        .drop("_code")
    )
    return segments, code


def _calendar(first: int, n_hours: int, calendar: Calendar) -> pl.DataFrame:
    """Calendar features of each target hour, on the calendar's local time."""
    local = (
        (pl.int_range(first, first + n_hours, dtype=pl.Int64, eager=True) * _US_PER_HOUR)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(calendar.timezone)
    )
    dates = local.dt.date().to_numpy().astype("datetime64[D]")
    holiday = calendar.holidays(dates) if calendar.holidays else np.zeros(dates.shape, dtype=bool)
    weekday = local.dt.weekday() - 1
    day_type = (
        pl.when(pl.lit(pl.Series(holiday)) | (weekday == 6))
        .then(3)
        .when(weekday == 5)
        .then(2)
        .when(weekday == 0)
        .then(0)
        .otherwise(1)
    )
    return (
        pl.DataFrame(
            {
                "hour_of_day": local.dt.hour(),
                "day_of_week": weekday,
                "month": local.dt.month(),
                "is_weekend": weekday >= 5,
                "is_holiday": holiday,
            }
        )
        .with_columns(day_type=day_type)
        .cast(pl.Int64)
    )


def _weather(weather: pl.DataFrame, areas: pl.Series, first: int, n_hours: int) -> pl.DataFrame:
    """Forecast temperature and degree terms, dense: row = area code * n_hours + target hour.

    Each target hour takes the newest forecast issued at or before its origin (00:00 UTC of its
    day); later issues are ignored, so no forecast made after the origin ever feeds a feature.
    """
    hour = pl.col(_HOUR)
    origin_us = ((hour + first) // 24 * 24) * _US_PER_HOUR
    staged = (
        weather.lazy()
        .select(
            _hour_offset(weather, "stg_weather_forecast", first),
            _as_utc_us(weather, "issue_utc").alias("_issue_us"),
            pl.col(_AREA),
            pl.col("temperature_c").cast(pl.Float64),
        )
        .filter(
            hour.is_between(0, n_hours, closed="left")
            & pl.col(_AREA).is_in(areas.to_list())
            & (pl.col("_issue_us") <= origin_us)
        )
        .sort("_issue_us")
        .unique(subset=[_AREA, _HOUR], keep="last")
        .collect()
    )
    position = staged.get_column(_AREA).cast(pl.Enum(areas)).to_physical().cast(
        pl.Int64
    ) * n_hours + staged.get_column(_HOUR)
    temperature = pl.repeat(None, len(areas) * n_hours, dtype=pl.Float64, eager=True)
    temperature.scatter(position, staged.get_column("temperature_c"))
    t = pl.col("temperature_c")
    # clip keeps a missing temperature missing, where max_horizontal would turn it into 0.
    return (
        temperature.alias("temperature_c")
        .to_frame()
        .with_columns(
            (HEATING_BASE_C - t).clip(lower_bound=0.0).alias("heating_degrees"),
            (t - COOLING_BASE_C).clip(lower_bound=0.0).alias("cooling_degrees"),
        )
    )


def _as_utc_us(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A timestamp column as microseconds since the epoch; naive values are UTC."""
    value = pl.col(column)
    if frame.schema[column].time_zone is not None:  # type: ignore[attr-defined]
        value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return value.dt.cast_time_unit("us").cast(pl.Int64)


def _hour_offset(frame: pl.DataFrame, table: str, first: int) -> pl.Expr:
    """hour_utc as whole hours since `first`; naive values are UTC, aware ones are converted."""
    hour_utc = pl.col("hour_utc")
    us = _as_utc_us(frame, "hour_utc")
    off_hour = frame.select((us % _US_PER_HOUR != 0).any() | hour_utc.is_null().any()).item()
    if off_hour:
        raise ValueError(
            f"{table}.hour_utc has null or non-whole-hour timestamps; staged hours must be "
            "UTC hour starts. Check the staging model."
        )
    return (us // _US_PER_HOUR - first).alias(_HOUR)


def _require_columns(frame: pl.DataFrame, table: str, columns: dict[str, str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{table} lacks column(s) {missing} that build_features needs (it has "
            f"{frame.columns}). If the staging model changed, update "
            "mlops_assets/lib/features.py with it."
        )
    checks = {
        "datetime": lambda d: isinstance(d, pl.Datetime),
        "string": lambda d: d == pl.String,
        "integer": lambda d: d.is_integer(),
        "numeric": lambda d: d.is_numeric(),
    }
    wrong = [
        (c, frame.schema[c]) for c, kind in columns.items() if not checks[kind](frame.schema[c])
    ]
    if wrong:
        column, dtype = wrong[0]
        raise ValueError(
            f"{table}.{column} has dtype {dtype}, build_features needs a {columns[column]} "
            "column. Check the cast in the staging model."
        )


def _require_unique(position: pl.Series, size: int, table: str, key: str) -> None:
    # Scattering marks distinct positions only: fewer marks than rows means duplicate keys.
    marks = pl.zeros(size, pl.UInt8, eager=True).scatter(position, 1)
    if marks.sum() != position.len():
        raise ValueError(
            f"{table} has duplicate rows for the key {key}; deduplicate in the staging model "
            "before building features."
        )


def _hour_index(moment: datetime, name: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}={moment} is naive: pass a timezone-aware datetime (UTC).")
    delta = moment - _EPOCH
    if delta % timedelta(hours=1):
        raise ValueError(f"{name}={moment.isoformat()} is not on the hour.")
    return delta // timedelta(hours=1)
