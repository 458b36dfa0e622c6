"""Validation gates on generated days: schema coercion, row rules, value skew and profiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from mlops_assets.lib.generator import (
    Defects,
    GeneratorConfig,
    apply_defects,
    generate_consumption,
    generate_weather,
    generate_weather_forecast,
)
from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    CONSUMPTION,
    HOUR_DK,
    HOUR_UTC,
    PRICE_AREA,
    TEMPERATURE,
    TOTAL_CON,
    WEATHER,
    WEATHER_FORECAST,
)
from mlops_assets.lib.validation import (
    COMPLETENESS,
    SCHEMA,
    TIMELINESS,
    UNIQUENESS,
    VALIDITY,
    Limits,
    ValidationReport,
    Violation,
    check,
    coerce,
    missing_hours,
    profile,
    value_skew,
)

DAY = date(2025, 1, 3)
START = datetime(2025, 1, 3, tzinfo=UTC)
END = START + timedelta(days=1)
# Two areas x four consumer types x 24 hours = 192 rows: small, but every segment kind is there.
CONFIG = GeneratorConfig(n_consumer_types=4)
SEGMENTS = len(CONFIG.price_areas) * len(CONFIG.consumer_types)
TYPE = CONFIG.consumer_types[0]


@pytest.fixture(scope="module")
def consumption() -> pl.DataFrame:
    return generate_consumption(START, END, CONFIG)


@pytest.fixture(scope="module")
def weather() -> pl.DataFrame:
    return generate_weather(START, END, CONFIG)


def utc_day(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def one(violations: list[Violation], rule: str, column: str | None) -> Violation:
    """The single violation of `rule` on `column`, failing the test if there are none or several."""
    found = [v for v in violations if v.rule == rule and v.column == column]
    assert len(found) == 1, f"expected one {rule} violation on {column}, got {violations}"
    return found[0]


def set_values(df: pl.DataFrame, column: str, values: dict[int, object]) -> pl.DataFrame:
    """`df` with the given rows of `column` replaced."""
    cells = df.get_column(column).to_list()
    for row, value in values.items():
        cells[row] = value
    return df.with_columns(pl.Series(column, cells, dtype=df.schema[column]))


def segment(area: str, consumer_type: int) -> pl.Expr:
    return (pl.col(PRICE_AREA) == area) & (pl.col(CONSUMER_TYPE) == consumer_type)


def drop_hours(df: pl.DataFrame, area: str, consumer_type: int, hours: list[int]) -> pl.DataFrame:
    return df.filter(~(segment(area, consumer_type) & pl.col(HOUR_UTC).dt.hour().is_in(hours)))


# --- coerce ---------------------------------------------------------------------------------------


def test_exact_schema_passes_unchanged(consumption: pl.DataFrame, weather: pl.DataFrame) -> None:
    for frame, schema in ((consumption, CONSUMPTION), (weather, WEATHER)):
        coerced, violations = coerce(frame, schema)

        assert violations == []
        assert coerced is not None
        assert coerced.equals(frame)


def test_coerce_returns_schema_order_and_dtypes(consumption: pl.DataFrame) -> None:
    # As a CSV or JSON reader delivers it: columns in another order, codes as 64-bit integers.
    delivered = consumption.select(reversed(consumption.columns)).with_columns(
        pl.col(CONSUMER_TYPE).cast(pl.Int64)
    )

    coerced, violations = coerce(delivered, CONSUMPTION)

    assert violations == []
    assert coerced is not None
    assert coerced.columns == CONSUMPTION.column_names
    assert coerced.schema == pl.Schema(CONSUMPTION.columns)
    assert coerced.equals(consumption)


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-03T05:00:00Z",
        "2025-01-03T05:00:00+00:00",
        "2025-01-03T06:00:00+01:00",
        "2025-01-03T05:00:00",
        "2025-01-03 05:00:00",
        "2025-01-03 05:00",
        " 2025-01-03T05:00:00 ",
    ],
)
def test_iso_string_hours_parse_as_utc(consumption: pl.DataFrame, text: str) -> None:
    delivered = consumption.head(2).with_columns(pl.lit(text).alias(HOUR_UTC))

    coerced, violations = coerce(delivered, CONSUMPTION)

    assert violations == []
    assert coerced is not None
    assert coerced.get_column(HOUR_UTC).to_list() == [datetime(2025, 1, 3, 5, tzinfo=UTC)] * 2


@pytest.mark.parametrize(
    "text", ["2025-01-03T06:00:00", "2025-01-03 06:00", "2025-01-03T05:00:00Z"]
)
def test_hour_dk_strings_become_danish_wall_clock_time(
    consumption: pl.DataFrame, text: str
) -> None:
    delivered = consumption.head(1).with_columns(pl.lit(text).alias(HOUR_DK))

    coerced, violations = coerce(delivered, CONSUMPTION)

    assert violations == []
    assert coerced is not None
    # A string with an offset is an instant (05:00Z is 06:00 in Copenhagen in winter).
    assert coerced.get_column(HOUR_DK).to_list() == [datetime(2025, 1, 3, 6)]


def test_naive_hour_utc_is_taken_as_utc(consumption: pl.DataFrame) -> None:
    naive = consumption.with_columns(pl.col(HOUR_UTC).dt.replace_time_zone(None))

    coerced, violations = coerce(naive, CONSUMPTION)

    assert violations == []
    assert coerced is not None
    assert coerced.equals(consumption)


def test_hour_utc_in_danish_time_is_converted_to_the_same_instant(
    consumption: pl.DataFrame,
) -> None:
    danish = consumption.with_columns(pl.col(HOUR_UTC).dt.convert_time_zone("Europe/Copenhagen"))

    coerced, violations = coerce(danish, CONSUMPTION)

    assert violations == []
    assert coerced is not None
    assert coerced.equals(consumption)


def test_missing_column_is_named(consumption: pl.DataFrame) -> None:
    coerced, violations = coerce(consumption.drop(TOTAL_CON), CONSUMPTION)

    assert coerced is None
    missing = one(violations, SCHEMA, TOTAL_CON)
    assert "is missing" in missing.message
    assert len(violations) == 1


def test_renamed_column_names_the_unexpected_column(consumption: pl.DataFrame) -> None:
    renamed = apply_defects(consumption, Defects(rename_columns={TOTAL_CON: "Total_Con"}), seed=1)

    coerced, violations = coerce(renamed, CONSUMPTION)

    assert coerced is None
    missing = one(violations, SCHEMA, TOTAL_CON)
    assert "Total_Con" in missing.message
    assert "Total_Con" in missing.describe()
    one(violations, SCHEMA, "Total_Con")


def test_extra_column_is_named(weather: pl.DataFrame) -> None:
    extra = weather.with_columns(pl.lit("station 06180").alias("Station"))

    coerced, violations = coerce(extra, WEATHER)

    assert coerced is None
    assert [(v.rule, v.column) for v in violations] == [(SCHEMA, "Station")]
    assert "[schema] column 'Station'" in violations[0].describe()


def test_unparseable_values_are_named_with_examples(consumption: pl.DataFrame) -> None:
    broken = apply_defects(consumption, Defects(wrong_types=(TOTAL_CON,)), seed=7)
    n_bad = (broken.get_column(TOTAL_CON) == "n/a").sum()

    coerced, violations = coerce(broken, CONSUMPTION)

    assert coerced is None
    wrong = one(violations, SCHEMA, TOTAL_CON)
    assert "'n/a'" in wrong.examples
    assert wrong.rows == n_bad >= 1
    assert wrong.describe().startswith("[schema] column 'TotalCon':")
    assert "'n/a'" in wrong.describe()


def test_non_integral_consumer_types_are_rejected(consumption: pl.DataFrame) -> None:
    as_float = consumption.with_columns(pl.col(CONSUMER_TYPE).cast(pl.Float64))
    fractional = set_values(as_float, CONSUMER_TYPE, {0: 122.5, 5: 3.25})

    integral, ok = coerce(as_float, CONSUMPTION)
    coerced, violations = coerce(fractional, CONSUMPTION)

    assert ok == []
    assert integral is not None and integral.equals(consumption)
    assert coerced is None
    wrong = one(violations, SCHEMA, CONSUMER_TYPE)
    assert wrong.rows == 2
    assert set(wrong.examples) == {"122.5", "3.25"}


def test_unparseable_timestamps_are_named(consumption: pl.DataFrame) -> None:
    as_text = consumption.with_columns(pl.col(HOUR_UTC).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    broken = set_values(as_text, HOUR_UTC, {3: "3. januar kl. 5", 10: "yesterday"})

    coerced, violations = coerce(broken, CONSUMPTION)

    assert coerced is None
    wrong = one(violations, SCHEMA, HOUR_UTC)
    assert wrong.rows == 2
    assert wrong.examples == ("'3. januar kl. 5'", "'yesterday'")


def test_a_date_is_not_a_timestamp(weather: pl.DataFrame) -> None:
    dated = weather.with_columns(pl.col(HOUR_UTC).dt.date())

    coerced, violations = coerce(dated, WEATHER)

    assert coerced is None
    assert "expected a timestamp" in one(violations, SCHEMA, HOUR_UTC).message


# --- check ----------------------------------------------------------------------------------------


def test_clean_generated_days_pass(consumption: pl.DataFrame, weather: pl.DataFrame) -> None:
    assert check(consumption, CONSUMPTION, DAY) == []
    assert check(weather, WEATHER, DAY) == []


@pytest.mark.parametrize("day", [date(2024, 3, 31), date(2024, 10, 27)])
def test_daylight_saving_days_pass(day: date) -> None:
    # HourDK skips 02:00 in March and repeats it in October; both must agree with HourUTC.
    frame = generate_consumption(*utc_day(day), CONFIG)

    assert check(frame, CONSUMPTION, day) == []


def test_duplicates_break_uniqueness_with_their_count(consumption: pl.DataFrame) -> None:
    duplicated = apply_defects(consumption, Defects(duplicate_rows=5), seed=3)

    violations = check(duplicated, CONSUMPTION, DAY)

    dupes = one(violations, UNIQUENESS, "HourUTC, PriceArea, ConsumerType_DE35")
    assert dupes.rows == 5
    assert "5 duplicate rows" in dupes.describe()
    assert {v.rule for v in violations} == {UNIQUENESS}


def test_negative_values_break_validity(consumption: pl.DataFrame) -> None:
    negative = apply_defects(consumption, Defects(negative_values=3), seed=3)

    violations = check(negative, CONSUMPTION, DAY)

    assert [(v.rule, v.column, v.rows) for v in violations] == [(VALIDITY, TOTAL_CON, 3)]
    assert violations[0].describe().startswith("[validity] column 'TotalCon':")
    assert "negative" in violations[0].message


def test_absurd_values_break_validity(consumption: pl.DataFrame) -> None:
    absurd = apply_defects(consumption, Defects(absurd_values=2), seed=3)

    violations = check(absurd, CONSUMPTION, DAY)

    assert [(v.rule, v.column, v.rows) for v in violations] == [(VALIDITY, TOTAL_CON, 2)]
    assert "implausible" in violations[0].message


def test_the_plausibility_limit_is_configurable(consumption: pl.DataFrame) -> None:
    largest = consumption.get_column(TOTAL_CON).max()
    assert isinstance(largest, float)

    strict = Limits(max_total_con_kwh=largest - 1.0)

    assert check(consumption, CONSUMPTION, DAY, Limits(max_total_con_kwh=largest)) == []
    assert one(check(consumption, CONSUMPTION, DAY, strict), VALIDITY, TOTAL_CON).rows == 1


def test_nan_and_infinite_values_break_validity(consumption: pl.DataFrame) -> None:
    broken = set_values(consumption, TOTAL_CON, {0: float("nan"), 7: float("inf")})

    violations = check(broken, CONSUMPTION, DAY)

    assert one(violations, VALIDITY, TOTAL_CON).rows == 2
    assert COMPLETENESS not in {v.rule for v in violations}


def test_implausible_temperature_breaks_validity(weather: pl.DataFrame) -> None:
    broken = set_values(weather, TEMPERATURE, {0: -60.0, 1: 99.0, 2: float("nan")})

    violations = check(broken, WEATHER, DAY)

    assert one(violations, VALIDITY, TEMPERATURE).rows == 3


def test_unknown_price_area_breaks_validity(consumption: pl.DataFrame) -> None:
    broken = set_values(consumption, PRICE_AREA, {4: "SE4"})

    violations = check(broken, CONSUMPTION, DAY)

    unknown = one(violations, VALIDITY, PRICE_AREA)
    assert unknown.rows == 1
    assert "'SE4'" in unknown.describe()
    # The same area is fine where the deployment declares it.
    assert VALIDITY not in {
        v.rule for v in check(broken, CONSUMPTION, DAY, price_areas=("DK1", "DK2", "SE4"))
    }


@pytest.mark.parametrize("code", [0, -111])
def test_non_positive_consumer_type_breaks_validity(consumption: pl.DataFrame, code: int) -> None:
    broken = set_values(consumption, CONSUMER_TYPE, {2: code})

    violations = check(broken, CONSUMPTION, DAY)

    assert one(violations, VALIDITY, CONSUMER_TYPE).rows == 1


def test_null_key_breaks_validity(weather: pl.DataFrame) -> None:
    broken = set_values(weather, PRICE_AREA, {0: None})

    assert one(check(broken, WEATHER, DAY), VALIDITY, PRICE_AREA).rows == 1


def test_rows_of_another_day_break_timeliness(consumption: pl.DataFrame) -> None:
    next_day = generate_consumption(END, END + timedelta(hours=1), CONFIG)
    previous_day = generate_consumption(START - timedelta(hours=2), START, CONFIG)
    spilled = pl.concat([previous_day, consumption, next_day])

    violations = check(spilled, CONSUMPTION, DAY)

    late = one(violations, TIMELINESS, HOUR_UTC)
    assert late.rows == next_day.height + previous_day.height
    assert "outside the partition's UTC day [2025-01-03 00:00, 2025-01-04 00:00)" in late.message
    assert {v.rule for v in violations} == {TIMELINESS}


def test_rows_off_the_hour_break_timeliness(consumption: pl.DataFrame) -> None:
    first_row = pl.int_range(pl.len()) == 0
    half_past = pl.when(first_row).then(pl.duration(minutes=30)).otherwise(pl.duration(minutes=0))
    shifted = consumption.with_columns(pl.col(HOUR_UTC) + half_past, pl.col(HOUR_DK) + half_past)

    violations = check(shifted, CONSUMPTION, DAY)

    off = one(violations, TIMELINESS, HOUR_UTC)
    assert off.rows == 1
    assert "not on the hour" in off.message


def test_hour_dk_disagreeing_with_utc_breaks_timeliness(consumption: pl.DataFrame) -> None:
    # A classic export bug: the UTC clock written into the local-time column.
    wrong_clock = consumption.with_columns(
        pl.col(HOUR_UTC).dt.replace_time_zone(None).alias(HOUR_DK)
    )

    violations = check(wrong_clock, CONSUMPTION, DAY)

    wrong = one(violations, TIMELINESS, HOUR_DK)
    assert wrong.rows == consumption.height
    assert "disagrees with HourUTC" in wrong.describe()


@pytest.mark.parametrize(("missing", "passes"), [(1, True), (2, False)])
def test_missing_hours_threshold(consumption: pl.DataFrame, missing: int, passes: bool) -> None:
    # 5 % of 24 hours allows one missing hour per segment, not two.
    gappy = consumption
    for i, (area, code) in enumerate(
        (a, c) for a in CONFIG.price_areas for c in CONFIG.consumer_types
    ):
        gappy = drop_hours(gappy, area, code, [(i + h) % 24 for h in range(missing)])

    violations = check(gappy, CONSUMPTION, DAY)

    if passes:
        assert violations == []
    else:
        gap = one(violations, COMPLETENESS, HOUR_UTC)
        assert gap.rows == missing * SEGMENTS
        assert f"{SEGMENTS} segments miss more than 5%" in gap.message


def test_missing_hours_name_the_worst_segment(consumption: pl.DataFrame) -> None:
    code_a, code_b = CONFIG.consumer_types[1], CONFIG.consumer_types[2]
    gappy = drop_hours(consumption, "DK1", code_a, [1, 2])
    gappy = drop_hours(gappy, "DK2", code_b, [5, 6, 7, 8, 9])
    gappy = drop_hours(gappy, "DK2", code_a, [12])

    violations = check(gappy, CONSUMPTION, DAY)

    gap = one(violations, COMPLETENESS, HOUR_UTC)
    assert "2 segments" in gap.message
    assert gap.rows == 7
    assert gap.examples[0] == f"(PriceArea='DK2', ConsumerType_DE35={code_b}, missing_hours=5)"
    assert gap.examples[1] == f"(PriceArea='DK1', ConsumerType_DE35={code_a}, missing_hours=2)"
    assert len(gap.examples) == 2


def test_the_missing_hours_threshold_is_configurable(consumption: pl.DataFrame) -> None:
    gappy = drop_hours(consumption, "DK1", TYPE, [1, 2])

    assert check(gappy, CONSUMPTION, DAY, Limits(max_missing_hours_share=0.1)) == []
    assert check(gappy, CONSUMPTION, DAY, Limits(max_missing_hours_share=0.05)) != []


def test_null_values_break_completeness(consumption: pl.DataFrame, weather: pl.DataFrame) -> None:
    no_con = set_values(consumption, TOTAL_CON, {0: None, 1: None})
    no_temp = set_values(weather, TEMPERATURE, {3: None})

    assert one(check(no_con, CONSUMPTION, DAY), COMPLETENESS, TOTAL_CON).rows == 2
    assert one(check(no_temp, WEATHER, DAY), COMPLETENESS, TEMPERATURE).rows == 1


def test_null_local_hours_break_completeness(consumption: pl.DataFrame) -> None:
    no_local_time = set_values(consumption, HOUR_DK, {0: None, 9: None, 20: None})

    violations = check(no_local_time, CONSUMPTION, DAY)

    assert [(v.rule, v.column, v.rows) for v in violations] == [(COMPLETENESS, HOUR_DK, 3)]


def test_a_missing_price_area_breaks_completeness(consumption: pl.DataFrame) -> None:
    only_dk1 = consumption.filter(pl.col(PRICE_AREA) == "DK1")

    violations = check(only_dk1, CONSUMPTION, DAY)

    absent = one(violations, COMPLETENESS, PRICE_AREA)
    assert "['DK2']" in absent.message
    assert check(only_dk1, CONSUMPTION, DAY, price_areas=("DK1",)) == []


def test_an_empty_day_breaks_completeness(consumption: pl.DataFrame) -> None:
    violations = check(consumption.clear(), CONSUMPTION, DAY)

    assert [v.rule for v in violations] == [COMPLETENESS]
    assert "no rows" in violations[0].describe()


def test_report_names_dataset_day_origin_column_and_rule(consumption: pl.DataFrame) -> None:
    negative = apply_defects(consumption, Defects(negative_values=1, duplicate_rows=1), seed=3)
    origin = "landing/consumption_2025-01-03.csv"

    report = ValidationReport("consumption", DAY, origin, tuple(check(negative, CONSUMPTION, DAY)))
    text = report.describe()

    assert not report.passed
    assert report.failed_rules() == [UNIQUENESS, VALIDITY]
    assert text.splitlines()[0] == f"raw_consumption partition 2025-01-03 from {origin} rejected:"
    assert "[validity] column 'TotalCon':" in text
    assert "[uniqueness] column 'HourUTC, PriceArea, ConsumerType_DE35':" in text


def test_a_clean_report_says_so() -> None:
    report = ValidationReport("weather", DAY, "weather generator (seed=42)")

    assert report.passed
    assert report.failed_rules() == []
    assert report.describe() == (
        "raw_weather partition 2025-01-03 from weather generator (seed=42): all rules passed"
    )


# --- value skew -----------------------------------------------------------------------------------

# An ordinary stretch of winter weekdays and weekends: no holidays and no sharp cold snap.
SKEW_DAYS = [date(2024, 2, 5) + timedelta(days=i) for i in range(7)]


@pytest.fixture(scope="module")
def skew_period() -> pl.DataFrame:
    first, last = SKEW_DAYS[0] - timedelta(days=7), SKEW_DAYS[-1]
    return generate_consumption(utc_day(first)[0], utc_day(last)[1])


def rows_of(df: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    return df.filter(pl.col(HOUR_UTC).is_between(utc_day(first)[0], utc_day(last)[1], "left"))


def test_skew_needs_three_days_of_history(skew_period: pl.DataFrame) -> None:
    day = SKEW_DAYS[0]
    tripled = rows_of(skew_period, day, day).with_columns(pl.col(TOTAL_CON) * 3)
    two_days = rows_of(skew_period, day - timedelta(days=2), day - timedelta(days=1))

    no_history = value_skew(tripled, tripled.clear(), CONSUMPTION, 4.0)
    short = value_skew(tripled, two_days, CONSUMPTION, 4.0)

    assert no_history.passed and no_history.compared_days == 0
    assert short.passed and short.compared_days == 2


def test_a_tripled_segment_is_flagged_alone(skew_period: pl.DataFrame) -> None:
    day = SKEW_DAYS[3]
    history = rows_of(skew_period, day - timedelta(days=7), day - timedelta(days=1))
    today = rows_of(skew_period, day, day).with_columns(
        pl.when(segment("DK2", TYPE)).then(pl.col(TOTAL_CON) * 3).otherwise(pl.col(TOTAL_CON))
    )

    skew = value_skew(today, history, CONSUMPTION, 4.0)

    assert skew.compared_days == 7
    assert not skew.passed
    assert skew.flagged.select(PRICE_AREA, CONSUMER_TYPE).rows() == [("DK2", TYPE)]
    assert skew.flagged.get_column("z").item() > 4.0
    assert skew.max_abs_z == pytest.approx(skew.flagged.get_column("z").item())


@pytest.mark.parametrize("day", SKEW_DAYS, ids=str)
def test_weekly_rhythm_is_not_skew(skew_period: pl.DataFrame, day: date) -> None:
    history = rows_of(skew_period, day - timedelta(days=7), day - timedelta(days=1))

    skew = value_skew(rows_of(skew_period, day, day), history, CONSUMPTION, 4.0)

    assert skew.compared_days == 7
    assert 0.0 < skew.max_abs_z < 4.0
    assert skew.passed


# --- missing_hours and profile -------------------------------------------------------------------


def test_missing_hours_counts_per_segment(consumption: pl.DataFrame) -> None:
    gappy = drop_hours(consumption, "DK1", TYPE, [0, 1, 2])
    # Rows of the next day do not fill the gaps of this one.
    gappy = pl.concat([gappy, generate_consumption(END, END + timedelta(hours=3), CONFIG)])

    counts = missing_hours(gappy, CONSUMPTION, DAY)

    assert counts.height == SEGMENTS
    by_segment = {(r[PRICE_AREA], r[CONSUMER_TYPE]): r["missing_hours"] for r in counts.to_dicts()}
    assert by_segment.pop(("DK1", TYPE)) == 3
    assert set(by_segment.values()) == {0}


def test_profile_summarises_the_rows(consumption: pl.DataFrame) -> None:
    gappy = drop_hours(consumption, "DK2", TYPE, [23])
    values = gappy.get_column(TOTAL_CON)

    summary = profile(gappy, CONSUMPTION, [DAY])

    assert summary == {
        "rows": consumption.height - 1,
        "segments": SEGMENTS,
        "first_hour": "2025-01-03T00:00:00+00:00",
        "last_hour": "2025-01-03T23:00:00+00:00",
        "missing_hours": 1,
        "TotalCon_min": values.min(),
        "TotalCon_mean": pytest.approx(values.mean()),
        "TotalCon_max": values.max(),
    }


def test_profile_of_nothing(weather: pl.DataFrame) -> None:
    summary = profile(weather.clear(), WEATHER, [DAY])

    assert summary["rows"] == 0
    assert summary["segments"] == 0
    assert summary["first_hour"] is None
    assert summary["Temperature_mean"] is None


# --- weather forecasts ---------------------------------------------------------------------------


def test_a_forecast_issued_after_its_hour_breaks_timeliness() -> None:
    forecasts = generate_weather_forecast(START, END, CONFIG)
    assert check(forecasts, WEATHER_FORECAST, DAY) == []
    late = forecasts.with_columns(
        pl.when(pl.col(HOUR_UTC) == START + timedelta(hours=3))
        .then(pl.col(HOUR_UTC))
        .otherwise(pl.col("IssueUTC"))
        .alias("IssueUTC")
    )
    v = one(check(late, WEATHER_FORECAST, DAY), TIMELINESS, "IssueUTC")
    assert v.rows == 2 * 2  # two issues x two areas at that hour
    assert "a forecast is issued before the hour it forecasts" in v.message
    assert "HourUTC=" in v.examples[0] and "PriceArea=" in v.examples[0]


def test_a_forecast_issue_missing_hours_breaks_completeness() -> None:
    forecasts = generate_weather_forecast(START, END, CONFIG)
    first_issue = forecasts.get_column("IssueUTC").min()
    holed = forecasts.filter(
        ~((pl.col("IssueUTC") == first_issue) & (pl.col(HOUR_UTC) >= START + timedelta(hours=12)))
    )
    v = one(check(holed, WEATHER_FORECAST, DAY), COMPLETENESS, HOUR_UTC)
    assert "IssueUTC=" in v.examples[0] and "missing_hours=12" in v.examples[0]
