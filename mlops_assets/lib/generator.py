"""Deterministic synthetic hourly consumption (DE35), weather and weather forecasts for the Danish
price areas.

Every value is a pure function of (seed, hour, area, consumer type): any window or subset of
segments reproduces the same numbers, so backfills and partitions always agree.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from mlops_assets.lib import schema
from mlops_assets.lib.consumer_types import (
    AGRICULTURE,
    CATEGORIES,
    COMMERCE,
    HOUSEHOLD,
    INDUSTRY_CONTINUOUS,
    INDUSTRY_SHIFT,
    LIGHTING,
    OTHER,
    PUBLIC,
    category_of,
    consumer_type_codes,
)
from mlops_assets.lib.holidays import holiday_mask

ABSURD_VALUE = 1e12
UNPARSEABLE_VALUE = "n/a"

_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 24 * _US_PER_HOUR
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_YEAR_DAYS = 365.2425
_MASK64 = (1 << 64) - 1

# Independent hash streams, so that e.g. the noise never correlates with the segment scales.
_STREAM_WEATHER_NOISE = 1
_STREAM_ANOMALY = 2
_STREAM_AREA_ANOMALY = 3
_STREAM_AREA_CLIMATE = 4
_STREAM_SCALE = 5
_STREAM_AREA_RATIO = 6
_STREAM_WOBBLE = 7
_STREAM_NOISE = 8
_STREAM_DEFECTS = 9
_STREAM_FORECAST_BIAS = 10
_STREAM_FORECAST_NOISE = 11


@dataclass(frozen=True)
class Drift:
    """A change of behaviour from a local date on, for some consumer types and price areas: a step
    (`level_shift`), a changed response to the weather, or a load that keeps growing."""

    start: dt.date
    consumer_types: tuple[int, ...] | None = None
    price_areas: tuple[str, ...] | None = None
    level_shift: float = 0.0
    temperature_sensitivity_factor: float = 1.0
    # Compounds hour by hour from the start's local midnight, for as long as the data runs. A
    # forecaster scaled by the same hour one and two weeks back absorbs a step within two weeks,
    # but trails a growth by about ten days of it for good: incremental drift needs retraining.
    growth_per_day: float = 0.0

    def __post_init__(self) -> None:
        if self.level_shift <= -1.0:
            raise ValueError(
                f"Drift.level_shift must be > -1 (a relative change), got {self.level_shift}."
            )
        if self.growth_per_day <= -1.0:
            raise ValueError(
                f"Drift.growth_per_day must be > -1 (a relative change per day), "
                f"got {self.growth_per_day}."
            )
        if self.temperature_sensitivity_factor < 0.0:
            raise ValueError(
                "Drift.temperature_sensitivity_factor must be >= 0, "
                f"got {self.temperature_sensitivity_factor}."
            )


@dataclass(frozen=True)
class Defects:
    """Data-quality defects to inject, to exercise validation and quarantine."""

    missing_hours: float = 0.0
    duplicate_rows: int = 0
    negative_values: int = 0
    absurd_values: int = 0
    rename_columns: Mapping[str, str] = field(default_factory=dict)
    drop_columns: tuple[str, ...] = ()
    wrong_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.missing_hours < 1.0:
            raise ValueError(
                f"Defects.missing_hours is a share in [0, 1), got {self.missing_hours}."
            )
        for name in ("duplicate_rows", "negative_values", "absurd_values"):
            if getattr(self, name) < 0:
                raise ValueError(f"Defects.{name} is a row count >= 0, got {getattr(self, name)}.")

    @property
    def any(self) -> bool:
        """Whether any defect is set."""
        return bool(
            self.missing_hours
            or self.duplicate_rows
            or self.negative_values
            or self.absurd_values
            or self.rename_columns
            or self.drop_columns
            or self.wrong_types
        )


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate: seed, segments, noise level and drifts."""

    seed: int = 42
    price_areas: tuple[str, ...] = schema.PRICE_AREAS
    n_consumer_types: int = 38
    noise: float = 0.04
    drift: tuple[Drift, ...] = ()

    def __post_init__(self) -> None:
        if not self.price_areas or len(set(self.price_areas)) != len(self.price_areas):
            raise ValueError(f"price_areas must be non-empty and unique, got {self.price_areas}.")
        if self.n_consumer_types < 1:
            raise ValueError(f"n_consumer_types must be at least 1, got {self.n_consumer_types}.")
        if self.noise < 0.0:
            raise ValueError(f"noise is a relative standard deviation >= 0, got {self.noise}.")

    @property
    def consumer_types(self) -> tuple[int, ...]:
        """The ConsumerType_DE35 codes generated, sorted."""
        return consumer_type_codes(self.n_consumer_types)


DEFAULT_CONFIG = GeneratorConfig()


# --- counter-based randomness -------------------------------------------------------------------


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _as_u64(key: np.ndarray | int) -> np.ndarray:
    return np.asarray(key).astype(np.int64).astype(np.uint64)


def _hash(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """64-bit hash of (seed, stream, *keys), broadcast over the key arrays."""
    x = _splitmix64(np.array([seed & _MASK64], dtype=np.uint64))
    x = _splitmix64(x ^ np.uint64(stream))
    for key in keys:
        x = _splitmix64(x ^ _as_u64(key))
    return x


def _unit(bits: np.ndarray) -> np.ndarray:
    """Uniform in [0, 1) from the top 53 bits."""
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """Standard normal by Box-Muller on two hashed uniforms."""
    bits = _hash(seed, stream, *keys)
    u1 = 1.0 - _unit(bits)
    u2 = _unit(_splitmix64(bits ^ np.uint64(0xA5A5A5A5A5A5A5A5)))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _area_keys(areas: tuple[str, ...]) -> np.ndarray:
    # crc32 rather than hash(): str hashing is salted per process.
    return np.array([zlib.crc32(a.encode()) for a in areas], dtype=np.int64)


# --- time -----------------------------------------------------------------------------------------


def _hour_index(moment: dt.datetime, name: str) -> int:
    if not isinstance(moment, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}={moment} is naive: pass a timezone-aware datetime (e.g. UTC).")
    delta = moment - _EPOCH
    if delta % dt.timedelta(hours=1):
        raise ValueError(f"{name}={moment.isoformat()} is not on the hour.")
    return delta // dt.timedelta(hours=1)


def _hours(start: dt.datetime, end: dt.datetime) -> np.ndarray:
    first, stop = _hour_index(start, "start"), _hour_index(end, "end")
    if stop < first:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()}).")
    return np.arange(first, stop, dtype=np.int64)


def _utc_series(hours_us: np.ndarray, name: str) -> pl.Series:
    return (
        pl.Series(name, hours_us, dtype=pl.Int64)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


@dataclass(frozen=True)
class _Calendar:
    """Per-hour calendar facts, on Danish local time where behaviour follows the clock."""

    hours: np.ndarray
    local_us: np.ndarray
    local_hour: np.ndarray
    local_date: np.ndarray
    day_type: np.ndarray
    year_phase: np.ndarray

    @classmethod
    def of(cls, hours: np.ndarray) -> _Calendar:
        utc = _utc_series(hours * _US_PER_HOUR, schema.HOUR_UTC)
        local = utc.dt.convert_time_zone(schema.DANISH_TZ).dt.replace_time_zone(None)
        local_us = local.to_physical().to_numpy().astype(np.int64)
        local_days = local_us // _US_PER_DAY
        local_date = local_days.astype("datetime64[D]")
        weekday = (local_days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        # Holidays behave like Sundays.
        day_type = np.where(
            holiday_mask(local_date) | (weekday == 6), 2, (weekday == 5).astype(int)
        )
        year_phase = 2.0 * np.pi * ((hours / 24.0) % _YEAR_DAYS) / _YEAR_DAYS
        return cls(
            hours=hours,
            local_us=local_us,
            local_hour=(local_us // _US_PER_HOUR) % 24,
            local_date=local_date,
            day_type=day_type,
            year_phase=year_phase,
        )


# --- weather --------------------------------------------------------------------------------------

# Weather systems pass over days to weeks; incommensurate periods avoid a visible repeat.
_ANOMALY_PERIODS_DAYS = np.array([4.3, 6.1, 8.9, 13.7, 21.1, 34.3])
_ANOMALY_AMPLITUDES = np.array([1.2, 1.5, 1.6, 1.5, 1.3, 1.1])
_AREA_ANOMALY_PERIODS_DAYS = np.array([3.7, 7.9])
_AREA_ANOMALY_AMPLITUDES = np.array([0.5, 0.6])
# (offset in °C, diurnal amplitude factor): Zealand is a little milder and more maritime.
_AREA_CLIMATE: dict[str, tuple[float, float]] = {"DK1": (0.0, 1.0), "DK2": (0.4, 0.85)}
_COLDEST_DAY = 22.0


def _sinusoids(
    days: np.ndarray, periods: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    angles = 2.0 * np.pi * days[:, None] / periods[None, :] + phases[None, :]
    return np.sin(angles) @ amplitudes


def _temperature(calendar: _Calendar, areas: tuple[str, ...], seed: int) -> np.ndarray:
    """Hourly temperature in °C, shape (hours, areas)."""
    days = calendar.hours / 24.0
    season = np.cos(calendar.year_phase - 2.0 * np.pi * _COLDEST_DAY / _YEAR_DAYS)
    seasonal = 9.0 - 8.0 * season
    diurnal = (2.75 - 1.25 * season) * np.cos(2.0 * np.pi * ((calendar.hours % 24) - 13) / 24.0)
    phases = (
        2.0 * np.pi * _unit(_hash(seed, _STREAM_ANOMALY, np.arange(len(_ANOMALY_PERIODS_DAYS))))
    )
    # Cold spells and mild spells are larger in winter.
    anomaly = (1.0 + 0.3 * season) * _sinusoids(
        days, _ANOMALY_PERIODS_DAYS, _ANOMALY_AMPLITUDES, phases
    )
    keys = _area_keys(areas)
    columns = []
    for area, key in zip(areas, keys, strict=True):
        default_offset = 2.0 * _unit(_hash(seed, _STREAM_AREA_CLIMATE, key))[0] - 1.0
        offset, diurnal_factor = _AREA_CLIMATE.get(area, (default_offset, 1.0))
        area_phases = (
            2.0
            * np.pi
            * _unit(
                _hash(seed, _STREAM_AREA_ANOMALY, key, np.arange(len(_AREA_ANOMALY_PERIODS_DAYS)))
            )
        )
        local = _sinusoids(days, _AREA_ANOMALY_PERIODS_DAYS, _AREA_ANOMALY_AMPLITUDES, area_phases)
        columns.append(offset + diurnal_factor * diurnal + local)
    noise = 0.3 * _normal(seed, _STREAM_WEATHER_NOISE, calendar.hours[:, None], keys[None, :])
    # Rounded as published, so consumption responds to exactly the weather users see.
    return np.round((seasonal + anomaly)[:, None] + np.stack(columns, axis=1) + noise, 1)


def generate_weather(
    start: dt.datetime, end: dt.datetime, config: GeneratorConfig = DEFAULT_CONFIG
) -> pl.DataFrame:
    """Hourly temperature per price area for [start, end), in `schema.WEATHER` layout."""
    areas = tuple(sorted(config.price_areas))
    calendar = _Calendar.of(_hours(start, end))
    temperature = _temperature(calendar, areas, config.seed)
    n_areas = len(areas)
    frame = pl.DataFrame(
        {
            schema.HOUR_UTC: _utc_series(np.repeat(calendar.hours * _US_PER_HOUR, n_areas), "x"),
            schema.PRICE_AREA: pl.Series(areas, dtype=pl.String).gather(
                np.tile(np.arange(n_areas), len(calendar.hours))
            ),
            schema.TEMPERATURE: temperature.ravel(),
        }
    )
    return frame.cast(schema.WEATHER.columns)


# Two forecast issues a day, at the hours (UTC) the runs of a weather service become available,
# each covering the whole next UTC day: lead times run from 6 h to 41 h.
FORECAST_ISSUE_HOURS_UTC: tuple[int, ...] = (6, 18)
# Forecast error (°C, one standard deviation) = base + growth x lead time in hours, so a 6-hour
# forecast misses by about 0.5 °C and a 41-hour one by about 1.9 °C, as public NWP verification
# of 2 m temperature roughly shows.
_FORECAST_ERROR_BASE_C = 0.3
_FORECAST_ERROR_PER_HOUR_C = 0.04


def forecast_issues(day: dt.date) -> list[dt.datetime]:
    """When the forecasts for target day `day` were issued: the runs of the day before."""
    before = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - dt.timedelta(days=1)
    return [before + dt.timedelta(hours=h) for h in FORECAST_ISSUE_HOURS_UTC]


def generate_weather_forecast(
    start: dt.datetime, end: dt.datetime, config: GeneratorConfig = DEFAULT_CONFIG
) -> pl.DataFrame:
    """Temperature forecasts for the target hours [start, end), every issue of the day before each
    target day, in `schema.WEATHER_FORECAST` layout.

    A forecast is the realised temperature plus an error whose spread grows with lead time: a bias
    shared by one issue and area (a forecast run that is too warm stays too warm) plus hourly noise.
    """
    areas = tuple(sorted(config.price_areas))
    hours = _hours(start, end)
    truth = _temperature(_Calendar.of(hours), areas, config.seed)  # (hours, areas)
    keys = _area_keys(areas)
    # Issue hours (since the epoch) of each target hour: the runs of the previous UTC day.
    issue = (hours // 24 - 1)[:, None] * 24 + np.array(FORECAST_ISSUE_HOURS_UTC)[None, :]
    lead = (hours[:, None] - issue).astype(np.float64)  # (hours, issues)
    sigma = _FORECAST_ERROR_BASE_C + _FORECAST_ERROR_PER_HOUR_C * lead
    bias = _normal(config.seed, _STREAM_FORECAST_BIAS, issue[:, :, None], keys[None, None, :])
    noise = _normal(
        config.seed,
        _STREAM_FORECAST_NOISE,
        issue[:, :, None],
        hours[:, None, None],
        keys[None, None, :],
    )
    error = sigma[:, :, None] * (0.8 * bias + 0.6 * noise)
    forecast = np.round(truth[:, None, :] + error, 1)  # (hours, issues, areas)
    n_issues, n_areas = issue.shape[1], len(areas)
    shape = forecast.shape
    frame = pl.DataFrame(
        {
            schema.ISSUE_UTC: _utc_series(
                np.broadcast_to(issue[:, :, None], shape).ravel() * _US_PER_HOUR, "i"
            ),
            schema.HOUR_UTC: _utc_series(
                np.broadcast_to(hours[:, None, None], shape).ravel() * _US_PER_HOUR, "h"
            ),
            schema.PRICE_AREA: pl.Series(areas, dtype=pl.String).gather(
                np.tile(np.arange(n_areas), len(hours) * n_issues)
            ),
            schema.TEMPERATURE: forecast.ravel(),
        }
    )
    return frame.cast(schema.WEATHER_FORECAST.columns).sort(list(schema.WEATHER_FORECAST.key))


# --- consumption ----------------------------------------------------------------------------------


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def _plateau(t: np.ndarray, begin: float, end: float, edge: float = 0.7) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(t - begin) / edge)) / (1.0 + np.exp(-(end - t) / edge))


def _daily_profiles() -> np.ndarray:
    """Relative load by category, day type (weekday, Saturday, Sunday) and local hour."""
    t = np.arange(24) + 0.5
    flat = np.ones(24)
    evening = 0.8 * _bump(t, 18.5, 2.0) + 0.2 * _bump(t, 21.5, 1.5)
    # Milking at dawn and late afternoon, every day of the week.
    milking = 0.55 + 0.45 * _bump(t, 5.5, 1.2) + 0.4 * _bump(t, 16.5, 1.3)
    farm = milking + 0.2 * _plateau(t, 8.0, 18.0)
    shapes: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
        HOUSEHOLD: (
            0.5 + 0.35 * _bump(t, 7.5, 1.2) + 0.15 * _bump(t, 12.5, 2.5) + evening,
            0.5 + 0.35 * _bump(t, 9.5, 1.8) + 0.3 * _bump(t, 13.0, 3.0) + evening,
            0.5 + 0.3 * _bump(t, 10.0, 2.0) + 0.3 * _bump(t, 13.0, 3.0) + evening,
        ),
        COMMERCE: (
            0.3 + 1.0 * _plateau(t, 7.5, 17.5),
            0.3 + 0.45 * _plateau(t, 9.0, 16.0),
            0.3 + 0.12 * _plateau(t, 10.0, 16.0),
        ),
        INDUSTRY_SHIFT: (
            0.3 + 0.9 * _plateau(t, 6.0, 22.0),
            0.3 + 0.3 * _plateau(t, 6.0, 14.0),
            0.3 * flat,
        ),
        INDUSTRY_CONTINUOUS: (
            1.0 - 0.05 * _bump(t, 4.0, 2.0) + 0.05 * _plateau(t, 7.0, 16.0),
            0.93 * flat,
            0.9 * flat,
        ),
        PUBLIC: (
            0.45 + 0.8 * _plateau(t, 7.0, 16.0),
            0.5 * flat,
            0.5 * flat,
        ),
        AGRICULTURE: (farm, 0.97 * farm, 0.97 * farm),
        # Street lighting follows darkness, not the clock: see _darkness.
        LIGHTING: (flat, flat, flat),
        OTHER: (
            0.5 + 0.5 * _plateau(t, 10.0, 22.5),
            0.5 + 0.65 * _plateau(t, 10.0, 23.5),
            0.5 + 0.55 * _plateau(t, 10.0, 22.0),
        ),
    }
    profiles = np.array([np.stack(shapes[c]) for c in CATEGORIES])
    # Normalised to a weekly mean of 1, so a segment's scale is its mean hourly kWh.
    weekly_mean = (5 * profiles[:, 0] + profiles[:, 1] + profiles[:, 2]).mean(axis=1) / 7
    profiles /= weekly_mean[:, None, None]
    profiles.flags.writeable = False
    return profiles


_PROFILES = _daily_profiles()

# Per category: winter amplitude of the annual cycle (lighting, heating auxiliaries), relative
# load per °C below 15.5 °C, and per °C above 22 °C (cooling).
_ANNUAL_AMPLITUDE = {
    HOUSEHOLD: 0.10,
    COMMERCE: 0.05,
    INDUSTRY_SHIFT: 0.02,
    INDUSTRY_CONTINUOUS: 0.01,
    PUBLIC: 0.06,
    AGRICULTURE: 0.12,
    LIGHTING: 0.0,
    OTHER: 0.04,
}
_HEATING = {
    HOUSEHOLD: 0.012,
    COMMERCE: 0.006,
    INDUSTRY_SHIFT: 0.003,
    INDUSTRY_CONTINUOUS: 0.0015,
    PUBLIC: 0.008,
    AGRICULTURE: 0.006,
    LIGHTING: 0.0,
    OTHER: 0.005,
}
_COOLING = {
    HOUSEHOLD: 0.0,
    COMMERCE: 0.008,
    INDUSTRY_SHIFT: 0.0,
    INDUSTRY_CONTINUOUS: 0.004,
    PUBLIC: 0.004,
    AGRICULTURE: 0.0,
    LIGHTING: 0.0,
    OTHER: 0.004,
}
_HEATING_BASE = 15.5
_COOLING_BASE = 22.0
# Mean hourly kWh in DK1, drawn log-uniformly; private households dwarf everything else.
_SCALE_RANGE = {
    HOUSEHOLD: (1.5e4, 6e4),
    COMMERCE: (1e4, 1.5e5),
    INDUSTRY_SHIFT: (2e3, 5e4),
    INDUSTRY_CONTINUOUS: (5e3, 1.2e5),
    PUBLIC: (1e4, 8e4),
    AGRICULTURE: (5e3, 6e4),
    LIGHTING: (4e3, 1.2e4),
    OTHER: (3e3, 4e4),
}
_SCALE_OVERRIDES = {510: (4e5, 8e5)}
# Other areas relative to DK1, log-uniform: most segments are smaller east of the Great Belt.
_AREA_RATIO_RANGE = (0.4, 1.2)
_REFERENCE_AREA = "DK1"


def _log_uniform(u: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.exp(np.log(low) + u * (np.log(high) - np.log(low)))


def _segment_scales(seed: int, areas: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    """Mean hourly kWh per (area, consumer type)."""
    ranges = np.array(
        [_SCALE_OVERRIDES.get(int(c), _SCALE_RANGE[category_of(int(c))]) for c in codes]
    )
    base = _log_uniform(_unit(_hash(seed, _STREAM_SCALE, codes)), ranges[:, 0], ranges[:, 1])
    keys = _area_keys(areas)
    u = _unit(_hash(seed, _STREAM_AREA_RATIO, keys[:, None], codes[None, :]))
    ratio = _log_uniform(u, *_AREA_RATIO_RANGE)
    ratio[np.array([a == _REFERENCE_AREA for a in areas])] = 1.0
    return base[None, :] * ratio


def _darkness(calendar: _Calendar) -> np.ndarray:
    """0 in daylight, 1 at night, smooth at dusk and dawn (Copenhagen's day length)."""
    day_length = 12.0 + 5.3 * np.sin(calendar.year_phase - 2.0 * np.pi * 80.0 / _YEAR_DAYS)
    solar_noon_utc = 11.2
    t = (calendar.hours % 24) + 0.5
    from_noon = np.abs(((t - solar_noon_utc + 12.0) % 24.0) - 12.0)
    return 1.0 / (1.0 + np.exp(-(from_noon - day_length / 2.0) / 0.5))


def _segment_wobble(
    seed: int, days: np.ndarray, area_keys: np.ndarray, codes: np.ndarray
) -> np.ndarray:
    """Slow, segment-specific ±2 % swings (weeks), so segments are not scaled copies."""
    wobble = np.ones((len(days), len(area_keys), len(codes)))
    for k in range(2):
        bits = _hash(seed, _STREAM_WOBBLE, area_keys[:, None], codes[None, :], k)
        period = 9.0 + 51.0 * _unit(bits)
        phase = 2.0 * np.pi * _unit(_splitmix64(bits))
        wobble += 0.02 * np.sin(2.0 * np.pi * days[:, None, None] / period[None] + phase[None])
    return wobble


def _drift_factors(
    config: GeneratorConfig, calendar: _Calendar, areas: tuple[str, ...], codes: np.ndarray
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Level multiplier and temperature-sensitivity multiplier per (hour, area, type)."""
    level: np.ndarray | float = 1.0
    sensitivity: np.ndarray | float = 1.0
    for drift in config.drift:
        start = np.datetime64(dt.date(drift.start.year, drift.start.month, drift.start.day), "D")
        after = calendar.local_date >= start
        in_areas = np.array([drift.price_areas is None or a in drift.price_areas for a in areas])
        in_types = (
            np.ones(len(codes), dtype=bool)
            if drift.consumer_types is None
            else np.isin(codes, np.array(drift.consumer_types, dtype=np.int64))
        )
        hit = after[:, None, None] & in_areas[None, :, None] & in_types[None, None, :]
        # Days since the start's local midnight, by the hour: the growth compounds smoothly.
        start_us = start.astype("datetime64[us]").astype(np.int64)
        elapsed = (calendar.local_us - start_us) / _US_PER_DAY
        growth = (1.0 + drift.growth_per_day) ** np.maximum(elapsed, 0.0)
        level = level * np.where(hit, (1.0 + drift.level_shift) * growth[:, None, None], 1.0)
        sensitivity = sensitivity * np.where(hit, drift.temperature_sensitivity_factor, 1.0)
    return level, sensitivity


def _consumption(
    config: GeneratorConfig,
    calendar: _Calendar,
    areas: tuple[str, ...],
    codes: np.ndarray,
    temperature: np.ndarray | None = None,
) -> np.ndarray:
    """TotalCon in kWh, shape (hours, areas, types), under the realised temperature unless one
    (hours, areas) is given."""
    seed = config.seed
    category_index = np.array([CATEGORIES.index(category_of(int(c))) for c in codes])
    categories = [CATEGORIES[i] for i in category_index]

    profile = _PROFILES[
        category_index[None, :], calendar.day_type[:, None], calendar.local_hour[:, None]
    ]
    lighting = category_index == CATEGORIES.index(LIGHTING)
    profile[:, lighting] = 0.04 + _darkness(calendar)[:, None]

    winter = np.cos(calendar.year_phase - 2.0 * np.pi * 15.0 / _YEAR_DAYS)
    annual = 1.0 + winter[:, None] * np.array([_ANNUAL_AMPLITUDE[c] for c in categories])[None, :]

    if temperature is None:
        temperature = _temperature(calendar, areas, seed)
    heating_degrees = np.maximum(_HEATING_BASE - temperature, 0.0)[:, :, None]
    cooling_degrees = np.maximum(temperature - _COOLING_BASE, 0.0)[:, :, None]
    heating = np.array([_HEATING[c] for c in categories])[None, None, :]
    cooling = np.array([_COOLING[c] for c in categories])[None, None, :]

    level, sensitivity = _drift_factors(config, calendar, areas, codes)
    weather = 1.0 + sensitivity * (heating * heating_degrees + cooling * cooling_degrees)

    area_keys = _area_keys(areas)
    wobble = _segment_wobble(seed, calendar.hours / 24.0, area_keys, codes)
    z = _normal(seed, _STREAM_NOISE, calendar.hours[:, None, None], area_keys[None, :, None], codes)
    noise = np.exp(config.noise * z)

    scale = _segment_scales(seed, areas, codes)
    return scale[None] * (profile * annual)[:, None, :] * weather * wobble * level * noise


def expected_consumption(
    start: dt.datetime,
    end: dt.datetime,
    temperature: np.ndarray,
    config: GeneratorConfig = DEFAULT_CONFIG,
) -> np.ndarray:
    """The generator's own consumption for [start, end) without its noise, under the hourly
    `temperature` (hours, sorted price areas): shape (hours, areas, consumer types), in
    `generate_consumption`'s row order once raveled.

    Fed the temperature forecasts issued by each day's origin, this is the best forecast anyone
    can make of generated data: `bench/forecast_quality.py` reports it as the bound.
    """
    areas = tuple(sorted(config.price_areas))
    codes = np.array(config.consumer_types, dtype=np.int64)
    return _consumption(
        replace(config, noise=0.0), _Calendar.of(_hours(start, end)), areas, codes, temperature
    )


def generate_consumption(
    start: dt.datetime,
    end: dt.datetime,
    config: GeneratorConfig = DEFAULT_CONFIG,
    defects: Defects | None = None,
) -> pl.DataFrame:
    """Hourly consumption per price area and DE35 consumer type for [start, end), as published."""
    areas = tuple(sorted(config.price_areas))
    codes = np.array(config.consumer_types, dtype=np.int64)
    calendar = _Calendar.of(_hours(start, end))
    values = np.round(_consumption(config, calendar, areas, codes), 3)

    n_hours, n_areas, n_types = values.shape
    per_hour = n_areas * n_types
    frame = pl.DataFrame(
        {
            schema.HOUR_UTC: _utc_series(np.repeat(calendar.hours * _US_PER_HOUR, per_hour), "x"),
            schema.HOUR_DK: pl.Series(np.repeat(calendar.local_us, per_hour)).cast(
                pl.Datetime("us")
            ),
            schema.PRICE_AREA: pl.Series(areas, dtype=pl.String).gather(
                np.tile(np.repeat(np.arange(n_areas), n_types), n_hours)
            ),
            schema.CONSUMER_TYPE: np.tile(codes, n_hours * n_areas),
            schema.TOTAL_CON: values.ravel(),
        }
    ).cast(schema.CONSUMPTION.columns)
    if defects is not None and defects.any:
        frame = apply_defects(frame, defects, config.seed)
    return frame


# --- defects --------------------------------------------------------------------------------------


def _dataset_of(df: pl.DataFrame) -> schema.DatasetSchema:
    # The dataset with the value column and most columns present: a weather forecast also has
    # every weather column.
    candidates = [d for d in schema.DATASETS.values() if d.value in df.columns]
    if candidates:
        return max(candidates, key=lambda d: len(set(d.columns) & set(df.columns)))
    raise ValueError(
        f"apply_defects needs one of the value columns "
        f"{[d.value for d in schema.DATASETS.values()]}; the frame has {df.columns}."
    )


def apply_defects(df: pl.DataFrame, defects: Defects, seed: int) -> pl.DataFrame:
    """Inject the requested defects into a frame of any dataset, reproducibly."""
    named = [*defects.rename_columns, *defects.drop_columns, *defects.wrong_types]
    unknown = sorted(set(named) - set(df.columns))
    if unknown:
        raise ValueError(
            f"Defects name columns {unknown} that the frame lacks; it has {df.columns}."
        )
    dataset = _dataset_of(df)
    rng = np.random.default_rng([seed & _MASK64, _STREAM_DEFECTS])

    if defects.missing_hours:
        n_missing = round(defects.missing_hours * df.height)
        keep = np.sort(rng.choice(df.height, df.height - n_missing, replace=False))
        df = df[keep]

    counts = (defects.negative_values, defects.absurd_values, defects.duplicate_rows)
    if sum(counts) > df.height:
        raise ValueError(
            f"Defects ask for {sum(counts)} corrupted rows; the frame has {df.height}."
        )
    # Disjoint rows, so each count is exactly what was asked for.
    picked = rng.choice(df.height, sum(counts), replace=False)
    negative, absurd, duplicate = np.split(picked, np.cumsum(counts)[:2])
    if len(negative) or len(absurd):
        values = df[dataset.value].to_numpy().astype(np.float64)
        magnitude = np.abs(values[negative])
        values[negative] = -np.where(magnitude > 0, magnitude, 1.0)
        values[absurd] = ABSURD_VALUE
        df = df.with_columns(pl.Series(dataset.value, values, dtype=df.schema[dataset.value]))
    if len(duplicate):
        key = [c for c in dataset.key if c in df.columns]
        df = pl.concat([df, df[np.sort(duplicate)]]).sort(key, maintain_order=True)

    if defects.wrong_types:
        n_bad = max(1, df.height // 100)
        bad = np.zeros(df.height, dtype=bool)
        bad[rng.choice(df.height, min(n_bad, df.height), replace=False)] = True
        df = df.with_columns(
            pl.when(pl.lit(pl.Series(bad)))
            .then(pl.lit(UNPARSEABLE_VALUE))
            .otherwise(pl.col(c).cast(pl.String))
            .alias(c)
            for c in defects.wrong_types
        )
    return df.drop(list(defects.drop_columns)).rename(
        {old: new for old, new in defects.rename_columns.items() if old not in defects.drop_columns}
    )
