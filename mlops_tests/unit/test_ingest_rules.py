"""The rules that judge a day against the lake's history: expected segments and plausibility.
What they must stop is in the defects matrix; here, what they must let through and their
settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise

import polars as pl
from polars.testing import assert_frame_equal

from mlops_assets.lib.generator import (
    Drift,
    GeneratorConfig,
    generate_consumption,
    generate_weather_forecast,
)
from mlops_assets.lib.ingest import DayResult, IngestPolicy, ingest_day, table_name
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    CONSUMPTION,
    HOUR_UTC,
    ISSUE_UTC,
    PRICE_AREA,
    TOTAL_CON,
    WEATHER_FORECAST,
    DatasetSchema,
)
from mlops_assets.lib.sources import Delivery
from mlops_assets.lib.validation import (
    COMPLETENESS,
    EXPECTED_SEGMENTS,
    PLAUSIBILITY,
    ExpectedSegments,
    Plausibility,
    daily_stats,
    day_window,
)

CONFIG = GeneratorConfig(n_consumer_types=6)


def day_of(day: date, config: GeneratorConfig = CONFIG) -> pl.DataFrame:
    return generate_consumption(*day_window(day), config)


def ingest(
    lake: Lake,
    policy: IngestPolicy,
    day: date,
    frame: pl.DataFrame,
    schema: DatasetSchema = CONSUMPTION,
) -> DayResult:
    return ingest_day(schema, day, [Delivery(origin="a test", frame=frame)], lake, policy)


def fill(lake: Lake, policy: IngestPolicy, first: date, last: date, config=CONFIG) -> None:
    day = first
    while day <= last:
        assert ingest(lake, policy, day, day_of(day, config)).accepted
        day += timedelta(days=1)


def test_christmas_and_new_year_pass_though_their_level_drops(
    lake: Lake, policy: IngestPolicy
) -> None:
    """Holidays move commerce and industry far from the week before; still within the band."""
    config = GeneratorConfig(n_consumer_types=38)
    fill(lake, policy, date(2024, 12, 14), date(2025, 1, 2), config)
    assert lake.days(table_name(CONSUMPTION))[-1] == date(2025, 1, 2)


def test_a_real_level_shift_warns_but_is_kept(lake: Lake, policy: IngestPolicy) -> None:
    shifted = replace(CONFIG, drift=(Drift(start=date(2025, 3, 8), level_shift=1.0),))
    fill(lake, policy, date(2025, 3, 1), date(2025, 3, 7))
    result = ingest(lake, policy, date(2025, 3, 8), day_of(date(2025, 3, 8), shifted))
    assert result.accepted
    assert result.skew is not None and not result.skew.passed  # the WARN band


def test_a_day_with_new_segments_is_accepted(lake: Lake, policy: IngestPolicy) -> None:
    fill(lake, policy, date(2025, 3, 1), date(2025, 3, 4))
    more = day_of(date(2025, 3, 5), GeneratorConfig(n_consumer_types=8))
    result = ingest(lake, policy, date(2025, 3, 5), more)
    assert result.accepted
    assert result.coverage is not None and result.coverage.complete


def test_losing_segments_passes_only_when_allowed(lake: Lake, policy: IngestPolicy) -> None:
    fill(lake, policy, date(2025, 3, 1), date(2025, 3, 4))
    gone = CONFIG.consumer_types[0]
    fewer = day_of(date(2025, 3, 5)).filter(pl.col(CONSUMER_TYPE) != gone)

    refused = ingest(lake, policy, date(2025, 3, 5), fewer)
    [violation] = refused.report.for_rule(EXPECTED_SEGMENTS)
    assert "carries 10 of the 12 expected segments: 2 missing" in violation.message
    assert f"ConsumerType_DE35={gone}" in " ".join(violation.examples)

    allowed = replace(policy, segments=ExpectedSegments(allow_loss=True))
    fewer_again = day_of(date(2025, 3, 5)).filter(pl.col(CONSUMER_TYPE) != gone)
    result = ingest(lake, allowed, date(2025, 3, 5), fewer_again)
    assert result.accepted
    assert result.coverage is not None and result.coverage.missing.height == 2


def test_a_segment_gone_longer_than_the_lookback_is_no_longer_expected(
    lake: Lake, policy: IngestPolicy
) -> None:
    fill(lake, policy, date(2025, 3, 1), date(2025, 3, 2))
    lean = GeneratorConfig(n_consumer_types=5)
    allowed = replace(policy, segments=ExpectedSegments(allow_loss=True))
    day = date(2025, 3, 3)
    while day <= date(2025, 3, 10):
        assert ingest(lake, allowed, day, day_of(day, lean)).accepted
        day += timedelta(days=1)
    assert ingest(lake, policy, date(2025, 3, 11), day_of(date(2025, 3, 11), lean)).accepted


def test_declared_consumer_types_are_expected_from_the_first_day(
    lake: Lake, policy: IngestPolicy
) -> None:
    declared = replace(
        policy, segments=ExpectedSegments(declared_consumer_types=(*CONFIG.consumer_types[:3], 999))
    )
    result = ingest(lake, declared, date(2025, 3, 1), day_of(date(2025, 3, 1)))
    [violation] = result.report.for_rule(EXPECTED_SEGMENTS)
    assert "MLOPS_EXPECTED_CONSUMER_TYPES" in violation.message
    assert violation.rows == 2  # 999 in both price areas; the other three are delivered
    assert not lake.days(table_name(CONSUMPTION))


def test_a_forecast_replacement_may_not_drop_an_issue(lake: Lake, policy: IngestPolicy) -> None:
    day = date(2025, 3, 5)
    forecast = generate_weather_forecast(*day_window(day), CONFIG)
    assert ingest(lake, policy, day, forecast, WEATHER_FORECAST).accepted
    latest_only = forecast.filter(pl.col(ISSUE_UTC) == pl.col(ISSUE_UTC).max())

    result = ingest(lake, policy, day, latest_only, WEATHER_FORECAST)

    [violation] = result.report.for_rule(EXPECTED_SEGMENTS)
    assert "would shrink the stored partition: 2 of its segments" in violation.message


def test_without_history_only_an_all_zero_day_is_implausible(
    lake: Lake, policy: IngestPolicy
) -> None:
    day = date(2025, 3, 1)
    flat = day_of(day).with_columns(pl.col(TOTAL_CON).mean().over(PRICE_AREA, CONSUMER_TYPE))
    assert ingest(lake, policy, day, flat).accepted  # nothing to compare a flat line with yet

    zero = day_of(day).with_columns(pl.lit(0.0).alias(TOTAL_CON))
    result = ingest(lake, policy, day, zero)
    [violation] = result.report.for_rule(PLAUSIBILITY)
    assert violation.message.startswith("every one of the day's 288 values is 0")


def test_thresholds_come_from_the_policy(lake: Lake, policy: IngestPolicy) -> None:
    fill(lake, policy, date(2025, 3, 1), date(2025, 3, 7))
    day = date(2025, 3, 8)
    doubled = day_of(day).with_columns(pl.col(TOTAL_CON) * 2.5)
    assert ingest(lake, policy, day, doubled).accepted  # inside the default x3 band

    strict = replace(policy, plausibility=Plausibility(max_level_ratio=1.5, flat_hours=4))
    result = ingest(lake, strict, day, doubled)
    [violation] = result.report.for_rule(PLAUSIBILITY)
    assert "MLOPS_PLAUSIBILITY_MAX_LEVEL_RATIO=1.5" in violation.message
    assert 0 < violation.rows <= 12

    steady = day_of(day).with_columns(
        pl.when(pl.col(HOUR_UTC).dt.hour() < 5)
        .then(pl.lit(100.0))
        .otherwise(pl.col(TOTAL_CON))
        .alias(TOTAL_CON)
    )
    [flat] = ingest(lake, strict, day, steady).report.for_rule(PLAUSIBILITY)
    assert "MLOPS_PLAUSIBILITY_FLAT_HOURS=4" in flat.message


def test_a_file_still_being_written_waits_without_quarantine(
    lake: Lake, policy: IngestPolicy
) -> None:
    day = date(2025, 3, 1)
    waiting = Delivery(
        origin="landing/consumption_2025-03-01.csv",
        pending="consumption_2025-03-01.csv is still being written",
    )

    result = ingest_day(CONSUMPTION, day, [waiting], lake, policy)

    assert result.pending and not result.accepted and not result.quarantined
    [violation] = result.report.violations
    assert violation.rule == COMPLETENESS and "still being written" in violation.message
    assert not policy.quarantine_dir.exists() and not lake.days(table_name(CONSUMPTION))


def _daily_stats_reference(df: pl.DataFrame, schema: DatasetSchema) -> pl.DataFrame:
    """The rule written out, per segment-day: mean, max, first value by hour, longest run."""
    segment = [*schema.segment, "day"]
    rows = df.with_columns(pl.col(HOUR_UTC).dt.date().alias("day")).sort([*segment, HOUR_UTC])
    out = []
    for key, group in rows.group_by(segment, maintain_order=True):
        values = group.get_column(schema.value).to_list()
        longest = run = 1
        for before, now in pairwise(values):
            run = run + 1 if now == before else 1
            longest = max(longest, run)
        present = [v for v in values if v is not None]
        out.append(
            {
                **dict(zip(segment, key, strict=True)),
                "mean": sum(present) / len(present),
                "max": max(present),
                "first": values[0],
                "longest": longest,
            }
        )
    return pl.DataFrame(out)


def test_daily_stats_follow_the_rule_and_a_day_depends_on_its_own_rows_only() -> None:
    days = [date(2025, 3, 1) + timedelta(days=i) for i in range(3)]
    frame = pl.concat([day_of(d) for d in days]).with_columns(
        # a flat stretch and a repeated value across segments, to exercise the runs
        pl.when(pl.col(HOUR_UTC).dt.hour().is_between(3, 9) & (pl.col(CONSUMER_TYPE) == 111))
        .then(5.0)
        .otherwise(pl.col(TOTAL_CON))
        .alias(TOTAL_CON)
    )
    ours = daily_stats(frame.sample(fraction=1.0, shuffle=True, seed=2), CONSUMPTION)
    keys = [PRICE_AREA, CONSUMER_TYPE, "day"]
    expected = _daily_stats_reference(frame, CONSUMPTION)
    assert_frame_equal(
        ours.sort(keys).select(expected.columns),
        expected.sort(keys),
        check_dtypes=False,
        rel_tol=1e-12,  # a mean summed in another order
    )
    assert ours.get_column("longest").max() == 7
    each_day = pl.concat(
        [daily_stats(frame.filter(pl.col(HOUR_UTC).dt.date() == d), CONSUMPTION) for d in days]
    )
    assert_frame_equal(ours.sort(keys), each_day.sort(keys), rel_tol=1e-12)


def test_a_replaced_stored_day_is_judged_by_its_new_rows(lake: Lake, policy: IngestPolicy) -> None:
    """Ingestion keeps each stored day's figures between days; a rewritten partition (a
    correction) is a new file, so its new figures are the ones the next days are compared with."""
    fill(lake, policy, date(2025, 3, 1), date(2025, 3, 7))
    tenfold = day_of(date(2025, 3, 8)).with_columns(pl.col(TOTAL_CON) * 10)
    assert not ingest(lake, policy, date(2025, 3, 8), tenfold).accepted
    # Every recent day corrected to ten times its level: the same tenfold day is now plausible.
    for offset in range(7):
        day = date(2025, 3, 1) + timedelta(days=offset)
        lake.write(table_name(CONSUMPTION), day, day_of(day).with_columns(pl.col(TOTAL_CON) * 10))
    assert ingest(lake, policy, date(2025, 3, 8), tenfold).accepted
