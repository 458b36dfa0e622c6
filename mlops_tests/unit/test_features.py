"""Forecasting features: schema, exact values, point in time, gaps, calendar and weather."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mlops_assets.lib.features import (
    CONSUMPTION_COLUMNS,
    CUTOFF_HOURS,
    DANISH,
    ENTITY,
    FEATURE_NAMES,
    FEATURES_SCHEMA,
    LABEL,
    LOOKBACK_HOURS,
    TIMESTAMP,
    WEATHER_COLUMNS,
    Calendar,
    build_daily_features,
    build_features,
    origin_of,
    staged_window,
)
from mlops_assets.lib.generator import (
    GeneratorConfig,
    generate_consumption,
    generate_weather_forecast,
)
from mlops_assets.lib.staging import stage_consumption, stage_weather_forecast

START = datetime(2024, 1, 22, tzinfo=UTC)
HOUR = timedelta(hours=1)


def staged_inputs(
    start: datetime, end: datetime, n_consumer_types: int = 2
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Generated consumption and weather forecasts, renamed and typed like the dbt staging
    tables."""
    config = GeneratorConfig(n_consumer_types=n_consumer_types)
    history_start, _ = staged_window(start, end)
    consumption = stage_consumption(generate_consumption(history_start, end, config))
    weather = stage_weather_forecast(generate_weather_forecast(start, end, config))
    return consumption, weather


def hour_index_series(start: datetime, end: datetime) -> pl.DataFrame:
    """One segment whose consumption is the hour's index from the start of the staged window."""
    history_start, _ = staged_window(start, end)
    hours = pl.datetime_range(
        history_start.replace(tzinfo=None),
        end.replace(tzinfo=None),
        "1h",
        closed="left",
        eager=True,
    )
    return pl.DataFrame(
        {
            "hour_utc": hours,
            "price_area": "DK1",
            "consumer_type": 111,
            ENTITY: "DK1-111",
            LABEL: pl.int_range(len(hours), eager=True).cast(pl.Float64),
        }
    )


def flat_weather(
    start: datetime, end: datetime, temperatures: dict[str, float], issued_hours_before: int = 6
) -> pl.DataFrame:
    """One forecast per area and target hour, issued `issued_hours_before` its day's origin."""
    hours = pl.datetime_range(
        start.replace(tzinfo=None), end.replace(tzinfo=None), "1h", closed="left", eager=True
    )
    issue = hours.dt.truncate("1d") - timedelta(hours=issued_hours_before)
    return pl.concat(
        pl.DataFrame(
            {"issue_utc": issue, "hour_utc": hours, "price_area": area, "temperature_c": value}
        )
        for area, value in temperatures.items()
    )


def row_at(frame: pl.DataFrame, moment: datetime, segment: str = "DK1-111") -> dict[str, object]:
    rows = frame.filter((pl.col(ENTITY) == segment) & (pl.col(TIMESTAMP) == moment))
    assert rows.height == 1
    return rows.row(0, named=True)


# --- shape -------------------------------------------------------------------------------------


def test_output_has_the_schema_one_sorted_row_per_segment_and_hour_and_no_nulls() -> None:
    end = START + timedelta(days=2)
    consumption, weather = staged_inputs(START, end)
    features = build_features(consumption, weather, START, end)

    assert features.schema == pl.Schema(FEATURES_SCHEMA)
    assert list(features.columns) == [ENTITY, TIMESTAMP, *FEATURE_NAMES]
    assert LABEL not in features.columns
    n_segments = consumption.get_column(ENTITY).n_unique()
    assert n_segments == 4
    assert features.height == n_segments * 48
    assert features.equals(features.sort(ENTITY, TIMESTAMP))
    assert features.get_column(TIMESTAMP).min() == START
    assert features.get_column(TIMESTAMP).max() == end - HOUR
    assert features.null_count().sum_horizontal().item() == 0


def test_staged_window_reaches_back_the_lookback() -> None:
    end = START + timedelta(days=1)
    assert staged_window(START, end) == (START - timedelta(hours=LOOKBACK_HOURS), end)
    assert LOOKBACK_HOURS == CUTOFF_HOURS + 336


def test_rows_outside_the_staged_window_are_ignored() -> None:
    end = START + timedelta(days=1)
    consumption, weather = staged_inputs(START, end)
    wider, wider_weather = staged_inputs(START - timedelta(days=3), end + timedelta(days=2))
    assert_frame_equal(
        build_features(wider, wider_weather, START, end),
        build_features(consumption, weather, START, end),
    )


# --- exact values ------------------------------------------------------------------------------


def test_lags_and_rolling_statistics_on_an_hour_index_series() -> None:
    end = START + timedelta(days=1)
    consumption = hour_index_series(START, end)
    features = build_features(consumption, flat_weather(START, end, {"DK1": 5.0}), START, end)

    target = START + 10 * HOUR
    y = LOOKBACK_HOURS + 10  # the series' value at the target hour itself
    row = row_at(features, target)
    assert row["lag_24h"] == y - 24
    assert row["lag_48h"] == y - 48
    assert row["lag_168h"] == y - 168
    assert row["same_hour_mean_2w"] == pytest.approx(y - 252)  # mean of y-168 and y-336
    assert row["rolling_mean_24h"] == pytest.approx(y - 35.5)  # hours y-47 .. y-24
    assert row["rolling_std_24h"] == pytest.approx(math.sqrt(24 * 25 / 12))  # ddof=1
    assert row["rolling_mean_168h"] == pytest.approx(y - 107.5)  # hours y-191 .. y-24
    assert row["rolling_std_168h"] == pytest.approx(math.sqrt(168 * 169 / 12))
    assert row["lag_336h"] == y - 336
    # The same windows a week earlier: hours y-215 .. y-192 and y-359 .. y-192.
    assert row["rolling_mean_24h_last_week"] == pytest.approx(y - 203.5)
    assert row["rolling_mean_168h_last_week"] == pytest.approx(y - 275.5)


def _day_type_row(day: datetime, calendar: Calendar = DANISH) -> dict[str, object]:
    """The features of 12:00 UTC on `day` for the hour-index series: each lag is readable as
    the number of hours it reaches back (value at the target minus the feature)."""
    start = day.replace(hour=0)
    end = start + timedelta(days=1)
    features = build_features(
        hour_index_series(start, end), flat_weather(start, end, {"DK1": 5.0}), start, end, calendar
    )
    row = row_at(features, start + 12 * HOUR)
    y = LOOKBACK_HOURS + 12
    return {**row, "back": y - row["weekday_naive"]}  # type: ignore[operator]


@pytest.mark.parametrize(
    ("day", "day_type", "back"),
    [
        (datetime(2024, 1, 22, tzinfo=UTC), 0, 168),  # Monday: last Monday
        (datetime(2024, 1, 23, tzinfo=UTC), 1, 24),  # Tuesday: yesterday, a working Monday
        (datetime(2024, 1, 26, tzinfo=UTC), 1, 24),  # Friday: yesterday
        (datetime(2024, 1, 27, tzinfo=UTC), 2, 168),  # Saturday: last Saturday
        (datetime(2024, 1, 28, tzinfo=UTC), 3, 168),  # Sunday: last Sunday
    ],
)
def test_weekday_naive_takes_the_newest_day_of_the_same_kind(
    day: datetime, day_type: int, back: int
) -> None:
    row = _day_type_row(day)
    assert row["day_type"] == day_type and row["back"] == back


def test_the_day_type_mean_averages_the_same_hour_of_that_day_type() -> None:
    y = LOOKBACK_HOURS + 12
    # Friday 26 January 2024: the Tuesday-Friday days of the two weeks before are 1-3, 7-10 and
    # 14 days back (Mondays and weekends excluded): eight of them.
    friday = _day_type_row(datetime(2024, 1, 26, tzinfo=UTC))
    back = [1, 2, 3, 7, 8, 9, 10, 14]
    assert friday["day_type_mean_2w"] == pytest.approx(y - 24 * sum(back) / len(back))
    # Saturday: last Saturday and the one before.
    saturday = _day_type_row(datetime(2024, 1, 27, tzinfo=UTC))
    assert saturday["day_type_mean_2w"] == pytest.approx(y - 24 * (7 + 14) / 2)


def test_holidays_change_the_weekday_naive_source_day() -> None:
    # Kristi Himmelfartsdag, Thursday 9 May 2024: a holiday is forecast like the latest Sunday.
    ascension = _day_type_row(datetime(2024, 5, 9, tzinfo=UTC))
    assert ascension["is_holiday"] == 1 and ascension["day_type"] == 3
    assert ascension["back"] == 4 * 24
    # The Friday after it: yesterday was a holiday, so last Friday instead.
    friday = _day_type_row(datetime(2024, 5, 10, tzinfo=UTC))
    assert friday["holiday_yesterday"] == 1 and friday["day_type"] == 1 and friday["back"] == 168
    # The Thursday a week later: last Thursday was the holiday, so two weeks back.
    later = _day_type_row(datetime(2024, 5, 16, tzinfo=UTC))
    assert later["holiday_last_week"] == 1 and later["holiday_yesterday"] == 0
    assert later["back"] == 24  # a Thursday after a working Wednesday still takes yesterday
    monday = _day_type_row(datetime(2024, 4, 8, tzinfo=UTC))  # a week after 2. Påskedag
    assert monday["holiday_last_week"] == 1 and monday["back"] == 336


def test_another_calendar_reads_weekdays_and_holidays_in_its_own_zone() -> None:
    # 12:00 UTC on Sunday 28 January 2024 is 23:00 Sunday in Melbourne, and 13:00 in Denmark;
    # 16:00 UTC is already Monday in Melbourne.
    melbourne = Calendar(timezone="Australia/Melbourne", holidays=None)
    start = datetime(2024, 1, 28, tzinfo=UTC)
    end = start + timedelta(days=1)
    inputs = (hour_index_series(start, end), flat_weather(start, end, {"DK1": 5.0}), start, end)
    local = build_features(*inputs, melbourne)
    danish = build_features(*inputs)
    assert row_at(local, start + 12 * HOUR)["hour_of_day"] == 23
    assert row_at(danish, start + 12 * HOUR)["hour_of_day"] == 13
    assert row_at(local, start + 16 * HOUR)["day_of_week"] == 0
    assert row_at(danish, start + 16 * HOUR)["day_of_week"] == 6
    # Without a holiday calendar no day is a holiday, not even the Danish ones.
    easter = datetime(2024, 3, 31, tzinfo=UTC)
    plain = Calendar(timezone="Europe/Copenhagen", holidays=None)
    assert _day_type_row(easter, plain)["is_holiday"] == 0
    assert _day_type_row(easter)["is_holiday"] == 1


def test_short_history_leaves_only_the_features_it_cannot_support_null() -> None:
    end = START + timedelta(days=1)
    # Only the last 2 days before the window: under half a week for the 168 h window.
    consumption = hour_index_series(START, end).filter(
        pl.col("hour_utc") >= (START - timedelta(hours=48)).replace(tzinfo=None)
    )
    row = row_at(
        build_features(consumption, flat_weather(START, end, {"DK1": 5.0}), START, end), START
    )
    assert row["lag_24h"] is not None
    assert row["lag_48h"] is not None
    assert row["rolling_mean_24h"] is not None
    assert row["lag_168h"] is None
    assert row["same_hour_mean_2w"] is None
    assert row["rolling_mean_168h"] is None
    assert row["rolling_std_168h"] is None


def test_same_hour_mean_uses_the_available_week_when_the_other_is_missing() -> None:
    end = START + timedelta(days=1)
    consumption = hour_index_series(START, end)
    two_weeks_before = (START - timedelta(hours=336)).replace(tzinfo=None)
    consumption = consumption.filter(pl.col("hour_utc") != two_weeks_before)
    row = row_at(
        build_features(consumption, flat_weather(START, end, {"DK1": 5.0}), START, end), START
    )
    assert row["same_hour_mean_2w"] == row["lag_168h"] == LOOKBACK_HOURS - 168


# --- point in time -----------------------------------------------------------------------------


def test_no_feature_reads_consumption_after_its_cutoff() -> None:
    end = START + timedelta(days=3)
    consumption, weather = staged_inputs(START, end)
    honest = build_features(consumption, weather, START, end)

    cutoff = START + 30 * HOUR
    corrupted = consumption.with_columns(
        pl.when(pl.col("hour_utc") > cutoff.replace(tzinfo=None))
        .then(pl.col(LABEL) * 1000.0)
        .otherwise(pl.col(LABEL))
        .alias(LABEL)
    )
    leaked = build_features(corrupted, weather, START, end)

    # Features of t may use consumption up to t - 24 h: unchanged while t - 24 h <= cut-off.
    allowed = pl.col(TIMESTAMP) <= cutoff + timedelta(hours=CUTOFF_HOURS)
    assert honest.filter(allowed).height == 4 * 55
    assert_frame_equal(leaked.filter(allowed), honest.filter(allowed))
    # One hour later lag_24h sees the corrupted hour, so the test is able to catch a leak.
    first_exposed = cutoff + timedelta(hours=CUTOFF_HOURS + 1)
    changed = leaked.filter(pl.col(TIMESTAMP) == first_exposed).get_column("lag_24h")
    original = honest.filter(pl.col(TIMESTAMP) == first_exposed).get_column("lag_24h")
    assert (changed == original * 1000.0).all()


# --- gaps and missing data ---------------------------------------------------------------------


def test_a_missing_hour_leaves_a_null_instead_of_shifting_the_lags() -> None:
    end = START + timedelta(days=3)
    consumption = hour_index_series(START, end)
    gap = START + 5 * HOUR
    holed = consumption.filter(pl.col("hour_utc") != gap.replace(tzinfo=None))
    features = build_features(holed, flat_weather(START, end, {"DK1": 5.0}), START, end)

    y_gap = LOOKBACK_HOURS + 5
    assert row_at(features, gap + 24 * HOUR)["lag_24h"] is None
    assert row_at(features, gap + 25 * HOUR)["lag_24h"] == y_gap + 1
    assert row_at(features, gap + 23 * HOUR)["lag_24h"] == y_gap - 1
    assert row_at(features, gap + 48 * HOUR)["lag_48h"] is None
    # The 24 h window that holds the gap averages the 23 hours it has.
    window = [v for v in range(y_gap - 23, y_gap + 1) if v != y_gap]
    row = row_at(features, gap + 24 * HOUR)
    assert row["rolling_mean_24h"] == pytest.approx(sum(window) / len(window))


def test_a_segment_missing_every_target_hour_still_gets_rows() -> None:
    end = START + timedelta(days=1)
    consumption, weather = staged_inputs(START, end)
    # Serving: consumption is known up to the cut-off only, never for the target hours.
    known = consumption.filter(pl.col("hour_utc") < START.replace(tzinfo=None))
    features = build_features(known, weather, START, end)
    assert features.height == 4 * 24
    assert features.null_count().sum_horizontal().item() == 0


# --- calendar and weather ----------------------------------------------------------------------


def test_calendar_follows_danish_local_time_across_the_spring_dst_change() -> None:
    start = datetime(2024, 3, 30, 22, tzinfo=UTC)  # 23:00 CET on Saturday
    end = start + 6 * HOUR
    consumption, weather = staged_inputs(start, end, n_consumer_types=1)
    features = build_features(consumption, weather, start, end).filter(
        pl.col(ENTITY) == pl.col(ENTITY).first()
    )
    # 02:00 local does not exist on 31 March 2024: 00:00 UTC is 01:00 CET, 01:00 UTC 03:00 CEST.
    assert features.get_column("hour_of_day").to_list() == [23, 0, 1, 3, 4, 5]
    assert features.get_column("day_of_week").to_list() == [5, 6, 6, 6, 6, 6]
    assert features.get_column("is_weekend").to_list() == [1] * 6
    assert features.get_column("month").to_list() == [3] * 6
    assert features.get_column("is_holiday").to_list() == [0, 1, 1, 1, 1, 1]  # Påskedag


def test_christmas_eve_starts_at_local_midnight() -> None:
    start = datetime(2024, 12, 23, 21, tzinfo=UTC)  # 22:00 local, Monday 23 December
    end = start + 4 * HOUR
    consumption, weather = staged_inputs(start, end, n_consumer_types=1)
    features = build_features(consumption, weather, start, end).filter(
        pl.col(ENTITY) == pl.col(ENTITY).first()
    )
    assert features.get_column("hour_of_day").to_list() == [22, 23, 0, 1]
    assert features.get_column("is_holiday").to_list() == [0, 0, 1, 1]
    assert features.get_column("day_of_week").to_list() == [0, 0, 1, 1]
    assert features.get_column("is_weekend").to_list() == [0, 0, 0, 0]


def test_temperature_joins_per_price_area_with_degree_terms() -> None:
    end = START + 2 * HOUR
    consumption, _ = staged_inputs(START, end, n_consumer_types=1)
    weather = flat_weather(START, end, {"DK1": 10.0, "DK2": 25.0})
    features = build_features(consumption, weather, START, end)

    dk1 = features.filter(pl.col("price_area") == "DK1")
    dk2 = features.filter(pl.col("price_area") == "DK2")
    assert dk1.get_column("temperature_c").to_list() == [10.0, 10.0]
    assert dk1.get_column("heating_degrees").to_list() == [7.0, 7.0]
    assert dk1.get_column("cooling_degrees").to_list() == [0.0, 0.0]
    assert dk2.get_column("temperature_c").to_list() == [25.0, 25.0]
    assert dk2.get_column("heating_degrees").to_list() == [0.0, 0.0]
    assert dk2.get_column("cooling_degrees").to_list() == [3.0, 3.0]


def test_a_missing_temperature_stays_missing_in_the_degree_terms() -> None:
    end = START + 2 * HOUR
    consumption, _ = staged_inputs(START, end, n_consumer_types=1)
    weather = flat_weather(START, end, {"DK1": 10.0, "DK2": 25.0}).filter(
        ~((pl.col("price_area") == "DK2") & (pl.col("hour_utc") == START.replace(tzinfo=None)))
    )
    row = row_at(build_features(consumption, weather, START, end), START, "DK2-510")
    assert row["temperature_c"] is None
    assert row["heating_degrees"] is None
    assert row["cooling_degrees"] is None


def test_temperature_is_the_newest_forecast_issued_by_the_origin() -> None:
    end = START + 24 * HOUR
    consumption, _ = staged_inputs(START, end, n_consumer_types=1)
    areas = {"DK1": 0.0, "DK2": 0.0}
    issues = pl.concat(
        [
            flat_weather(START, end, {a: 1.0 for a in areas}, issued_hours_before=18),
            flat_weather(START, end, {a: 2.0 for a in areas}, issued_hours_before=6),
            flat_weather(START, end, {a: 3.0 for a in areas}, issued_hours_before=0),
            # Issued after the origin: a forecaster at 00:00 could not have had it.
            flat_weather(START, end, {a: 99.0 for a in areas}, issued_hours_before=-6),
        ]
    )
    features = build_features(consumption, issues, START, end)
    assert features.get_column("temperature_c").unique().to_list() == [3.0]
    later_only = issues.filter(pl.col("temperature_c") == 99.0)
    features = build_features(consumption, later_only, START, end)
    assert features.get_column("temperature_c").null_count() == features.height


def test_a_days_features_use_only_what_was_known_at_its_origin() -> None:
    day = (START + 2 * 24 * HOUR).date()
    origin = origin_of(day)
    end = origin + 24 * HOUR
    config = GeneratorConfig(n_consumer_types=2)
    history_start, _ = staged_window(origin, end)
    consumption = stage_consumption(generate_consumption(history_start, end, config))
    forecasts = stage_weather_forecast(generate_weather_forecast(origin, end, config))
    known = build_daily_features(consumption, forecasts, [day])[day]
    naive_origin = origin.replace(tzinfo=None)
    # Everything stamped after the origin is changed beyond recognition: D's actuals and a late
    # forecast issue. The features must not move.
    tampered_consumption = consumption.with_columns(
        pl.when(pl.col("hour_utc") >= naive_origin)
        .then(pl.col(LABEL) * 1000)
        .otherwise(pl.col(LABEL))
        .alias(LABEL)
    )
    late_issue = forecasts.group_by("hour_utc", "price_area").agg(
        pl.lit(naive_origin + HOUR).alias("issue_utc"), pl.lit(40.0).alias("temperature_c")
    )
    tampered_forecasts = pl.concat([forecasts, late_issue.select(forecasts.columns)])
    assert_frame_equal(
        build_daily_features(tampered_consumption, tampered_forecasts, [day])[day], known
    )
    # And consumption truncated at the origin gives exactly the same rows.
    before = consumption.filter(pl.col("hour_utc") < naive_origin)
    assert_frame_equal(build_daily_features(before, forecasts, [day])[day], known)
    assert known.get_column("lag_24h").null_count() == 0


# --- input validation --------------------------------------------------------------------------


@pytest.mark.parametrize("column", list(CONSUMPTION_COLUMNS))
def test_a_missing_consumption_column_is_named(column: str) -> None:
    end = START + HOUR
    consumption, weather = staged_inputs(START, end, n_consumer_types=1)
    with pytest.raises(ValueError, match=rf"stg_consumption lacks column\(s\) \['{column}'\]"):
        build_features(consumption.drop(column), weather, START, end)


@pytest.mark.parametrize("column", list(WEATHER_COLUMNS))
def test_a_missing_weather_column_is_named(column: str) -> None:
    end = START + HOUR
    consumption, weather = staged_inputs(START, end, n_consumer_types=1)
    with pytest.raises(ValueError, match=rf"stg_weather_forecast lacks column\(s\) \['{column}'\]"):
        build_features(consumption, weather.drop(column), START, end)


def test_a_column_of_the_wrong_type_is_named() -> None:
    end = START + HOUR
    consumption, weather = staged_inputs(START, end, n_consumer_types=1)
    as_text = consumption.with_columns(pl.col(LABEL).cast(pl.String))
    with pytest.raises(ValueError, match=f"stg_consumption.{LABEL} has dtype String"):
        build_features(as_text, weather, START, end)


def test_duplicate_staged_rows_are_rejected() -> None:
    end = START + HOUR
    consumption, weather = staged_inputs(START, end, n_consumer_types=1)
    doubled = pl.concat([consumption, consumption.tail(1)])
    with pytest.raises(ValueError, match="stg_consumption has duplicate rows"):
        build_features(doubled, weather, START, end)


@pytest.mark.parametrize(
    ("start", "message"),
    [(START.replace(tzinfo=None), "naive"), (START + timedelta(minutes=30), "not on the hour")],
)
def test_the_window_must_be_aware_whole_hours(start: datetime, message: str) -> None:
    consumption, weather = staged_inputs(START, START + HOUR, n_consumer_types=1)
    with pytest.raises(ValueError, match=message):
        build_features(consumption, weather, start, START + HOUR)
