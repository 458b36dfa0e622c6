"""The synthetic generator: layout, determinism, Danish load shapes, drift and injected defects."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from mlops_assets.lib import schema
from mlops_assets.lib.consumer_types import (
    CATEGORIES,
    COMMERCE,
    CONSUMER_TYPES,
    HOUSEHOLD,
    LIGHTING,
    category_of,
    consumer_type_codes,
)
from mlops_assets.lib.generator import (
    ABSURD_VALUE,
    UNPARSEABLE_VALUE,
    Defects,
    Drift,
    GeneratorConfig,
    apply_defects,
    expected_consumption,
    forecast_issues,
    generate_consumption,
    generate_weather,
    generate_weather_forecast,
)
from mlops_assets.lib.validation import check, coerce

UTC = dt.UTC
YEAR_START = dt.datetime(2024, 1, 1, tzinfo=UTC)
YEAR_END = dt.datetime(2025, 1, 1, tzinfo=UTC)
KEY = list(schema.CONSUMPTION.key)
WEEK = dt.datetime(2024, 3, 4, tzinfo=UTC), dt.datetime(2024, 3, 11, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def codes_of(category: str) -> list[int]:
    return [c for c in GeneratorConfig().consumer_types if category_of(c) == category]


@pytest.fixture(scope="module")
def year() -> pl.DataFrame:
    return generate_consumption(YEAR_START, YEAR_END)


@pytest.fixture(scope="module")
def year_weather() -> pl.DataFrame:
    return generate_weather(YEAR_START, YEAR_END)


@pytest.fixture(scope="module")
def week() -> pl.DataFrame:
    return generate_consumption(*WEEK)


# --- consumer types -------------------------------------------------------------------------------


def test_consumer_types_are_38_unique_three_digit_codes_covering_every_category() -> None:
    codes = [t.code for t in CONSUMER_TYPES]
    assert len(codes) == 38 == len(set(codes))
    assert all(100 <= c <= 999 for c in codes)
    assert {t.category for t in CONSUMER_TYPES} == set(CATEGORIES)


def test_a_few_consumer_types_already_mix_load_shapes_and_grow_by_nesting() -> None:
    assert {category_of(c) for c in consumer_type_codes(len(CATEGORIES))} == set(CATEGORIES)
    for n in (1, 5, 20, 37):
        assert set(consumer_type_codes(n)) <= set(consumer_type_codes(n + 1))
    assert consumer_type_codes(38) == tuple(sorted(t.code for t in CONSUMER_TYPES))


def test_beyond_the_real_codes_synthetic_codes_cycle_through_real_categories() -> None:
    codes = consumer_type_codes(38 + 40)
    synthetic = codes[38:]
    assert synthetic == tuple(range(1000, 1040))
    assert [category_of(c) for c in synthetic[:38]] == [t.category for t in CONSUMER_TYPES]
    with pytest.raises(ValueError, match="Unknown ConsumerType_DE35"):
        category_of(999)


# --- layout ---------------------------------------------------------------------------------------


def test_consumption_has_exactly_the_published_columns_and_types(week: pl.DataFrame) -> None:
    assert list(week.schema.items()) == list(schema.CONSUMPTION.columns.items())


def test_weather_has_exactly_the_weather_columns_and_types() -> None:
    weather = generate_weather(*WEEK)
    assert list(weather.schema.items()) == list(schema.WEATHER.columns.items())
    assert weather.height == 7 * 24 * 2
    assert weather.equals(weather.sort(list(schema.WEATHER.key)))
    assert not weather.select(schema.WEATHER.key).is_duplicated().any()


def test_one_row_per_hour_area_and_type_unique_and_sorted_by_key(week: pl.DataFrame) -> None:
    assert week.height == 7 * 24 * 2 * 38
    assert not week.select(KEY).is_duplicated().any()
    assert week.equals(week.sort(KEY))
    assert week[schema.HOUR_UTC].min() == WEEK[0]
    assert week[schema.HOUR_UTC].max() == WEEK[1] - dt.timedelta(hours=1)


def test_values_are_positive_and_households_are_the_largest_segment(year: pl.DataFrame) -> None:
    assert year[schema.TOTAL_CON].min() > 0
    assert year[schema.TOTAL_CON].is_finite().all()
    means = year.group_by(schema.CONSUMER_TYPE).agg(pl.col(schema.TOTAL_CON).mean())
    largest = means.sort(schema.TOTAL_CON)[schema.CONSUMER_TYPE][-1]
    assert category_of(largest) == HOUSEHOLD


def test_dk1_is_larger_than_dk2_for_most_consumer_types(week: pl.DataFrame) -> None:
    per_area = week.pivot(
        on=schema.PRICE_AREA,
        index=schema.CONSUMER_TYPE,
        values=schema.TOTAL_CON,
        aggregate_function="mean",
    )
    assert (per_area["DK1"] > per_area["DK2"]).mean() > 0.6


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (dt.datetime(2024, 1, 1), utc(2024, 1, 2), "naive"),
        (utc(2024, 1, 1), dt.datetime(2024, 1, 2), "naive"),
        (dt.datetime(2024, 1, 1, 0, 30, tzinfo=UTC), utc(2024, 1, 2), "on the hour"),
        (utc(2024, 1, 2), utc(2024, 1, 1), "before start"),
    ],
)
def test_rejects_windows_that_are_not_whole_utc_hours(
    start: dt.datetime, end: dt.datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_consumption(start, end)
    with pytest.raises(ValueError, match=message):
        generate_weather(start, end)


def test_other_time_zones_denote_the_same_utc_hours() -> None:
    copenhagen = dt.timezone(dt.timedelta(hours=1))
    local = generate_consumption(
        dt.datetime(2024, 1, 1, 1, tzinfo=copenhagen), dt.datetime(2024, 1, 1, 4, tzinfo=copenhagen)
    )
    assert local.equals(generate_consumption(utc(2024, 1, 1), utc(2024, 1, 1, 3)))


def test_empty_window_gives_an_empty_frame_with_the_schema() -> None:
    empty = generate_consumption(utc(2024, 1, 1), utc(2024, 1, 1))
    assert empty.height == 0
    assert list(empty.schema.items()) == list(schema.CONSUMPTION.columns.items())


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(week: pl.DataFrame) -> None:
    assert generate_consumption(*WEEK).equals(week)
    assert generate_weather(*WEEK).equals(generate_weather(*WEEK))


def test_different_seed_gives_different_values(week: pl.DataFrame) -> None:
    other = generate_consumption(*WEEK, GeneratorConfig(seed=7))
    assert other.select(KEY).equals(week.select(KEY))
    assert (other[schema.TOTAL_CON] != week[schema.TOTAL_CON]).mean() > 0.99
    assert not generate_weather(*WEEK, GeneratorConfig(seed=7)).equals(generate_weather(*WEEK))


def test_a_day_is_the_same_whether_generated_alone_or_sliced_from_a_longer_window() -> None:
    three_days = generate_consumption(utc(2024, 3, 30), utc(2024, 4, 2))
    day_two = generate_consumption(utc(2024, 3, 31), utc(2024, 4, 1))
    sliced = three_days.filter(
        pl.col(schema.HOUR_UTC).is_between(utc(2024, 3, 31), utc(2024, 4, 1), closed="left")
    )
    assert sliced.equals(day_two)

    weather = generate_weather(utc(2024, 3, 30), utc(2024, 4, 2))
    weather_day = generate_weather(utc(2024, 3, 31), utc(2024, 4, 1))
    assert weather.filter(pl.col(schema.HOUR_UTC).dt.day() == 31).equals(weather_day)


def test_a_segment_is_the_same_whatever_other_segments_are_generated(week: pl.DataFrame) -> None:
    few = generate_consumption(*WEEK, GeneratorConfig(n_consumer_types=5))
    codes = GeneratorConfig(n_consumer_types=5).consumer_types
    assert few.equals(week.filter(pl.col(schema.CONSUMER_TYPE).is_in(codes)))

    dk2_only = generate_consumption(*WEEK, GeneratorConfig(price_areas=("DK2",)))
    assert dk2_only.equals(week.filter(pl.col(schema.PRICE_AREA) == "DK2"))


# --- weather forecasts ---------------------------------------------------------------------------


def test_weather_forecasts_are_issued_the_day_before_and_valid() -> None:
    day = dt.date(2024, 3, 5)
    start = utc(2024, 3, 5)
    frame = generate_weather_forecast(start, start + dt.timedelta(days=1))
    assert frame.columns == schema.WEATHER_FORECAST.column_names
    assert sorted(frame.get_column(schema.ISSUE_UTC).unique().to_list()) == forecast_issues(day)
    assert frame.height == 24 * 2 * len(forecast_issues(day))
    assert (frame[schema.ISSUE_UTC] < start).all()
    coerced, problems = coerce(frame, schema.WEATHER_FORECAST)
    assert not problems and coerced is not None
    assert check(coerced, schema.WEATHER_FORECAST, day) == []
    # Seeded and sliceable like the other datasets.
    assert generate_weather_forecast(start, start + dt.timedelta(days=1)).equals(frame)
    two_days = generate_weather_forecast(start - dt.timedelta(days=1), start + dt.timedelta(days=1))
    assert two_days.filter(pl.col(schema.HOUR_UTC) >= start).equals(frame)


def test_forecast_error_grows_with_lead_time() -> None:
    start, end = utc(2024, 1, 1), utc(2024, 4, 1)
    truth = generate_weather(start, end).rename({schema.TEMPERATURE: "truth"})
    forecasts = generate_weather_forecast(start, end).join(
        truth, on=[schema.HOUR_UTC, schema.PRICE_AREA]
    )
    lead_hours = (pl.col(schema.HOUR_UTC) - pl.col(schema.ISSUE_UTC)).dt.total_hours()
    by_lead = (
        forecasts.with_columns(
            (lead_hours // 12).alias("lead_band"),
            (pl.col(schema.TEMPERATURE) - pl.col("truth")).alias("error"),
        )
        .group_by("lead_band")
        .agg(pl.col("error").pow(2).mean().sqrt().alias("rmse"), pl.col("error").mean())
        .sort("lead_band")
    )
    rmse = by_lead.get_column("rmse").to_list()
    assert rmse == sorted(rmse) and rmse[-1] > 2 * rmse[0]
    assert 0.3 < rmse[0] < 1.0 and rmse[-1] < 3.0
    # Unbiased: the errors scatter around the truth.
    assert by_lead.get_column("error").abs().max() < 0.3


def test_expected_consumption_is_the_series_without_its_noise_under_the_given_temperature(
    week: pl.DataFrame,
) -> None:
    config = GeneratorConfig()
    realised = generate_weather(*WEEK).sort(schema.HOUR_UTC, schema.PRICE_AREA)
    temperature = realised.get_column(schema.TEMPERATURE).to_numpy().reshape(-1, 2)
    expected = expected_consumption(*WEEK, temperature, config).ravel()

    quiet = generate_consumption(*WEEK, GeneratorConfig(noise=0.0)).get_column(schema.TOTAL_CON)
    np.testing.assert_allclose(expected, quiet.to_numpy(), atol=1e-3)
    # What is left is the multiplicative noise: |exp(0.04 z) - 1| averages 0.04 * sqrt(2 / pi).
    actual = week.get_column(schema.TOTAL_CON).to_numpy()
    mape = float(np.mean(np.abs(expected - actual) / actual))
    assert mape == pytest.approx(config.noise * np.sqrt(2 / np.pi), rel=0.05)
    # A warmer forecast lowers the winter-week heating load.
    assert expected_consumption(*WEEK, temperature + 2.0, config).sum() < expected.sum()


# --- calendar -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"), [(utc(2024, 3, 30), utc(2024, 4, 2)), (utc(2024, 10, 26), utc(2024, 10, 29))]
)
def test_hour_dk_is_copenhagen_wall_clock_time_across_dst_changes(
    start: dt.datetime, end: dt.datetime
) -> None:
    df = generate_consumption(start, end, GeneratorConfig(n_consumer_types=1))
    expected = df[schema.HOUR_UTC].dt.convert_time_zone(schema.DANISH_TZ).dt.replace_time_zone(None)
    assert df[schema.HOUR_DK].equals(expected, check_names=False)


def test_dst_shows_as_a_skipped_and_a_repeated_local_hour() -> None:
    config = GeneratorConfig(n_consumer_types=1, price_areas=("DK1",))
    spring = generate_consumption(utc(2024, 3, 30, 23), utc(2024, 3, 31, 3), config)
    assert spring[schema.HOUR_DK].dt.hour().to_list() == [0, 1, 3, 4]
    autumn = generate_consumption(utc(2024, 10, 26, 22), utc(2024, 10, 27, 2), config)
    assert autumn[schema.HOUR_DK].dt.hour().to_list() == [0, 1, 2, 2]


def daily_total(df: pl.DataFrame, codes: list[int], day: dt.date) -> float:
    rows = df.filter(
        pl.col(schema.CONSUMER_TYPE).is_in(codes), pl.col(schema.HOUR_DK).dt.date() == day
    )
    return rows[schema.TOTAL_CON].sum()


def test_commerce_uses_less_on_weekends(week: pl.DataFrame) -> None:
    commerce = week.filter(pl.col(schema.CONSUMER_TYPE).is_in(codes_of(COMMERCE)))
    weekend = commerce[schema.HOUR_DK].dt.weekday() >= 6
    assert commerce.filter(~weekend)[schema.TOTAL_CON].mean() > 1.5 * (
        commerce.filter(weekend)[schema.TOTAL_CON].mean()
    )


def test_commerce_peaks_in_office_hours_and_households_in_the_evening(year: pl.DataFrame) -> None:
    def peak_hour(category: str) -> int:
        rows = year.filter(pl.col(schema.CONSUMER_TYPE).is_in(codes_of(category)))
        by_hour = rows.group_by(pl.col(schema.HOUR_DK).dt.hour().alias("hour")).agg(
            pl.col(schema.TOTAL_CON).mean()
        )
        return by_hour.sort(schema.TOTAL_CON)["hour"][-1]

    assert 8 <= peak_hour(COMMERCE) <= 16
    assert 17 <= peak_hour(HOUSEHOLD) <= 20


def test_christmas_day_behaves_like_a_sunday_for_commerce(year: pl.DataFrame) -> None:
    commerce = codes_of(COMMERCE)
    christmas = daily_total(year, commerce, dt.date(2024, 12, 25))  # a Wednesday
    ordinary_wednesday = daily_total(year, commerce, dt.date(2024, 12, 11))
    sunday = daily_total(year, commerce, dt.date(2024, 12, 15))
    assert christmas < 0.7 * ordinary_wednesday
    assert christmas == pytest.approx(sunday, rel=0.1)


def test_street_lighting_burns_at_night_and_longer_in_winter(year: pl.DataFrame) -> None:
    lighting = year.filter(pl.col(schema.CONSUMER_TYPE).is_in(codes_of(LIGHTING)))
    hour = pl.col(schema.HOUR_DK).dt.hour()
    month = pl.col(schema.HOUR_DK).dt.month()
    midnight = lighting.filter(hour == 0)[schema.TOTAL_CON].mean()
    noon = lighting.filter(hour == 12)[schema.TOTAL_CON].mean()
    assert midnight > 5 * noon
    assert (
        lighting.filter(month == 12)[schema.TOTAL_CON].sum()
        > 1.5 * lighting.filter(month == 6)[schema.TOTAL_CON].sum()
    )


# --- weather and temperature sensitivity ----------------------------------------------------------


def test_weather_follows_the_danish_seasons_and_day(year_weather: pl.DataFrame) -> None:
    month = pl.col(schema.HOUR_UTC).dt.month()
    by_month = year_weather.group_by(month.alias("month")).agg(pl.col(schema.TEMPERATURE).mean())
    means = dict(by_month.iter_rows())
    assert -1 < means[1] < 4 and -1 < means[2] < 5
    assert 14 < means[7] < 20
    by_hour = year_weather.group_by(pl.col(schema.HOUR_UTC).dt.hour().alias("hour")).agg(
        pl.col(schema.TEMPERATURE).mean()
    )
    warmest_utc_hour = by_hour.sort(schema.TEMPERATURE)["hour"][-1]
    assert 11 <= warmest_utc_hour <= 14  # early afternoon in Copenhagen


def test_weather_anomalies_persist_for_days_and_dk2_tracks_dk1(
    year_weather: pl.DataFrame,
) -> None:
    daily = (
        year_weather.group_by(pl.col(schema.HOUR_UTC).dt.date().alias("day"), schema.PRICE_AREA)
        .agg(pl.col(schema.TEMPERATURE).mean())
        .pivot(on=schema.PRICE_AREA, index="day", values=schema.TEMPERATURE)
        .sort("day")
    )
    dk1, dk2 = daily["DK1"].to_numpy(), daily["DK2"].to_numpy()
    anomaly = dk1 - np.convolve(dk1, np.ones(31) / 31, mode="same")
    anomaly = anomaly[15:-15]
    assert 1.5 < anomaly.std() < 4.0
    assert np.corrcoef(anomaly[:-1], anomaly[1:])[0, 1] > 0.6
    assert np.corrcoef(dk1, dk2)[0, 1] > 0.95
    assert not np.allclose(dk1, dk2)


def test_households_use_more_when_it_is_cold(
    year: pl.DataFrame, year_weather: pl.DataFrame
) -> None:
    households = (
        year.filter(pl.col(schema.CONSUMER_TYPE).is_in(codes_of(HOUSEHOLD)))
        .group_by(schema.HOUR_UTC, schema.PRICE_AREA)
        .agg(pl.col(schema.TOTAL_CON).sum())
        .join(year_weather, on=[schema.HOUR_UTC, schema.PRICE_AREA])
    )
    weekly = (
        households.filter(pl.col(schema.PRICE_AREA) == "DK1")
        .group_by(pl.col(schema.HOUR_UTC).dt.week().alias("week"))
        .agg(pl.col(schema.TOTAL_CON).mean(), pl.col(schema.TEMPERATURE).mean())
        .sort(schema.TEMPERATURE)
    )
    coldest, warmest = weekly.row(0, named=True), weekly.row(-1, named=True)
    assert coldest[schema.TOTAL_CON] > 1.2 * warmest[schema.TOTAL_CON]
    daily = households.group_by(
        pl.col(schema.HOUR_UTC).dt.date().alias("day"), schema.PRICE_AREA
    ).agg(pl.col(schema.TOTAL_CON).mean(), pl.col(schema.TEMPERATURE).mean())
    for area in schema.PRICE_AREAS:
        rows = daily.filter(pl.col(schema.PRICE_AREA) == area)
        assert rows.select(pl.corr(schema.TOTAL_CON, schema.TEMPERATURE)).item() < -0.5


# --- drift ----------------------------------------------------------------------------------------


def ratio_to_baseline(drifted: pl.DataFrame, baseline: pl.DataFrame) -> pl.DataFrame:
    return drifted.with_columns(
        (pl.col(schema.TOTAL_CON) / baseline[schema.TOTAL_CON]).alias("ratio")
    )


def test_level_shift_applies_from_the_local_start_date_to_the_chosen_segments_only() -> None:
    start, end = utc(2024, 3, 25), utc(2024, 4, 8)
    shifted_types = tuple(codes_of(COMMERCE)[:2])
    drift = Drift(
        start=dt.date(2024, 4, 1),
        consumer_types=shifted_types,
        price_areas=("DK1",),
        level_shift=0.3,
    )
    baseline = generate_consumption(start, end)
    drifted = ratio_to_baseline(
        generate_consumption(start, end, GeneratorConfig(drift=(drift,))), baseline
    )
    hit = (
        (pl.col(schema.HOUR_DK) >= dt.datetime(2024, 4, 1))
        & pl.col(schema.CONSUMER_TYPE).is_in(shifted_types)
        & (pl.col(schema.PRICE_AREA) == "DK1")
    )
    after, rest = drifted.filter(hit)["ratio"], drifted.filter(~hit)["ratio"]
    # Copenhagen is UTC+2 in April: 1 April starts at 22:00 UTC the day before.
    assert after.len() == (7 * 24 + 2) * len(shifted_types)
    assert after.min() == pytest.approx(1.3, rel=1e-6) and after.max() == pytest.approx(
        1.3, rel=1e-6
    )
    assert rest.min() == pytest.approx(1.0, rel=1e-6) and rest.max() == pytest.approx(1.0, rel=1e-6)
    # 31 March 23:00 UTC is already 1 April in Copenhagen.
    first_shifted = drifted.filter(hit)[schema.HOUR_UTC].min()
    assert first_shifted == utc(2024, 3, 31, 22)


def test_temperature_sensitivity_drift_amplifies_the_response_to_cold_only(
    year_weather: pl.DataFrame,
) -> None:
    start, end = utc(2024, 1, 1), utc(2024, 8, 1)
    households = codes_of(HOUSEHOLD)
    config = GeneratorConfig(
        drift=(
            Drift(
                start=dt.date(2024, 1, 1),
                consumer_types=tuple(households),
                temperature_sensitivity_factor=2.0,
            ),
        )
    )
    drifted = ratio_to_baseline(
        generate_consumption(start, end, config), generate_consumption(start, end)
    )
    rows = drifted.filter(pl.col(schema.CONSUMER_TYPE).is_in(households)).join(
        year_weather, on=[schema.HOUR_UTC, schema.PRICE_AREA]
    )
    cold = rows.filter(pl.col(schema.TEMPERATURE) < 0)["ratio"]
    mild = rows.filter(pl.col(schema.TEMPERATURE) > 16)["ratio"]
    assert cold.len() > 100 and mild.len() > 100
    assert cold.min() > 1.1
    assert mild.min() == pytest.approx(1.0, rel=1e-6) and mild.max() == pytest.approx(1.0, rel=1e-6)
    others = drifted.filter(~pl.col(schema.CONSUMER_TYPE).is_in(households))["ratio"]
    assert others.max() == pytest.approx(1.0, rel=1e-6)


def test_growth_compounds_hour_by_hour_from_the_local_start_for_the_chosen_segments_only() -> None:
    start, end = utc(2024, 3, 25), utc(2024, 4, 15)
    grown_types = tuple(codes_of(HOUSEHOLD)[:2])
    drift = Drift(
        start=dt.date(2024, 4, 1),
        consumer_types=grown_types,
        price_areas=("DK2",),
        growth_per_day=0.02,
    )
    drifted = ratio_to_baseline(
        generate_consumption(start, end, GeneratorConfig(drift=(drift,))),
        generate_consumption(start, end),
    )
    hit = (
        (pl.col(schema.HOUR_DK) >= dt.datetime(2024, 4, 1))
        & pl.col(schema.CONSUMER_TYPE).is_in(grown_types)
        & (pl.col(schema.PRICE_AREA) == "DK2")
    )
    grown = drifted.filter(hit).with_columns(
        (pl.col(schema.HOUR_DK) - dt.datetime(2024, 4, 1)).dt.total_hours().alias("hours")
    )
    # 1.02 per day of Copenhagen wall-clock time since 1 April 00:00 (31 March 22:00 UTC).
    expected = 1.02 ** (grown["hours"].to_numpy() / 24)
    np.testing.assert_allclose(grown["ratio"].to_numpy(), expected, rtol=1e-5)
    assert grown.filter(pl.col("hours") == 0)[schema.HOUR_UTC].unique().to_list() == [
        utc(2024, 3, 31, 22)
    ]
    # The last hour, 14 April 23:00 UTC, is 15 April 01:00 in Copenhagen: 14 days and 1 hour in.
    assert grown["ratio"].max() == pytest.approx(1.02 ** (14 + 1 / 24), rel=1e-5)
    rest = drifted.filter(~hit)["ratio"]
    assert rest.min() == pytest.approx(1.0, rel=1e-6) and rest.max() == pytest.approx(1.0, rel=1e-6)


def test_drift_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="level_shift"):
        Drift(start=dt.date(2024, 1, 1), level_shift=-1.0)
    with pytest.raises(ValueError, match="temperature_sensitivity_factor"):
        Drift(start=dt.date(2024, 1, 1), temperature_sensitivity_factor=-0.5)
    with pytest.raises(ValueError, match="growth_per_day"):
        Drift(start=dt.date(2024, 1, 1), growth_per_day=-1.0)


# --- defects --------------------------------------------------------------------------------------


def test_no_defects_changes_nothing(week: pl.DataFrame) -> None:
    assert not Defects().any
    assert Defects(drop_columns=(schema.HOUR_DK,)).any
    assert generate_consumption(*WEEK, defects=Defects()).equals(week)


def test_missing_hours_drops_that_share_of_rows(week: pl.DataFrame) -> None:
    damaged = generate_consumption(*WEEK, defects=Defects(missing_hours=0.1))
    assert damaged.height == week.height - round(0.1 * week.height)
    assert damaged.equals(damaged.sort(KEY))
    assert damaged.join(week, on=[*KEY, schema.HOUR_DK, schema.TOTAL_CON], how="anti").height == 0


def test_duplicate_rows_adds_that_many_repeated_keys(week: pl.DataFrame) -> None:
    damaged = generate_consumption(*WEEK, defects=Defects(duplicate_rows=25))
    assert damaged.height == week.height + 25
    assert damaged.height - damaged.unique(KEY).height == 25
    assert damaged.unique(maintain_order=True).equals(week)


def test_negative_and_absurd_values_are_injected_in_the_asked_numbers(week: pl.DataFrame) -> None:
    damaged = generate_consumption(*WEEK, defects=Defects(negative_values=7, absurd_values=3))
    values = damaged[schema.TOTAL_CON]
    assert (values < 0).sum() == 7
    assert (values == ABSURD_VALUE).sum() == 3
    assert 1e3 * week[schema.TOTAL_CON].max() < ABSURD_VALUE
    assert (values != week[schema.TOTAL_CON]).sum() == 10


def test_renamed_and_dropped_columns() -> None:
    damaged = generate_consumption(
        *WEEK,
        defects=Defects(
            rename_columns={schema.TOTAL_CON: "total_con"}, drop_columns=(schema.HOUR_DK,)
        ),
    )
    assert damaged.columns == [
        schema.HOUR_UTC,
        schema.PRICE_AREA,
        schema.CONSUMER_TYPE,
        "total_con",
    ]


def test_wrong_types_turn_columns_into_strings_with_unparseable_values() -> None:
    damaged = generate_consumption(
        *WEEK, defects=Defects(wrong_types=(schema.TOTAL_CON, schema.CONSUMER_TYPE))
    )
    for column, dtype in ((schema.TOTAL_CON, pl.Float64), (schema.CONSUMER_TYPE, pl.Int32)):
        assert damaged.schema[column] == pl.String
        unparseable = damaged[column].cast(dtype, strict=False).is_null()
        assert unparseable.sum() > 0
        assert set(damaged.filter(unparseable)[column].unique()) == {UNPARSEABLE_VALUE}


def test_defects_apply_to_weather_and_reject_unknown_columns() -> None:
    weather = generate_weather(*WEEK)
    damaged = apply_defects(weather, Defects(absurd_values=2, duplicate_rows=1), seed=1)
    assert (damaged[schema.TEMPERATURE] == ABSURD_VALUE).sum() == 2
    assert damaged.height == weather.height + 1
    with pytest.raises(ValueError, match="TotalCon"):
        apply_defects(weather, Defects(drop_columns=(schema.TOTAL_CON,)), seed=1)


# --- scale ----------------------------------------------------------------------------------------


def test_thousands_of_segments_in_one_day() -> None:
    config = GeneratorConfig(n_consumer_types=2000)
    day = generate_consumption(utc(2024, 6, 1), utc(2024, 6, 2), config)
    assert day.height == 24 * 2 * 2000
    assert day[schema.CONSUMER_TYPE].n_unique() == 2000
    assert day[schema.CONSUMER_TYPE].max() == 1000 + 2000 - 38 - 1
    assert day[schema.TOTAL_CON].min() > 0
    assert not day.select(KEY).is_duplicated().any()
