"""Drift reports with the real Evidently: on drawn feature frames, and the daily like-for-like
comparison on generated consumption, undrifted and with a level shift."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlops_assets.lib import scenario
from mlops_assets.lib.drift import (
    DAILY_COLUMN_THRESHOLD,
    DAILY_METHOD,
    DAILY_SHARE_THRESHOLD,
    DRIFT_COLUMNS,
    LEVEL,
    DriftResult,
    compare,
    drift_report,
    like_for_like,
    prepare_reference,
    reads_holiday,
    sample,
)
from mlops_assets.lib.drift import (
    MONITORED as MONITORED_COLUMNS,
)
from mlops_assets.lib.families import Forecaster
from mlops_assets.lib.features import (
    ENTITY,
    FEATURES,
    LOOKBACK_HOURS,
    TIMESTAMP,
    build_daily_features,
)
from mlops_assets.lib.forecasting import PREDICTION
from mlops_assets.lib.generator import (
    Drift,
    GeneratorConfig,
    generate_consumption,
)
from mlops_assets.lib.staging import stage_consumption
from mlops_assets.lib.triggers import drift_trigger
from mlops_assets.settings import MonitoringPolicy

# Warnings `import evidently` raises from its dependencies, not from this project.
pytestmark = [
    pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litestar"),
]

ROWS = 4000
SHIFTED = ("hour_of_day", "lag_24h", "temperature_c")


def feature_frame(rows: int, seed: int) -> pl.DataFrame:
    """Rows with every feature column and its dtype; values drawn from fixed distributions."""
    rng = np.random.default_rng(seed)
    ints = {
        "consumer_type": (111, 160),
        "hour_of_day": (0, 24),
        "day_of_week": (0, 7),
        "month": (1, 13),
        "is_weekend": (0, 2),
    }
    values: dict[str, object] = {}
    for spec in FEATURES:
        if spec.dtype == pl.String():
            values[spec.name] = rng.choice(["DK1", "DK2"], rows)
        elif spec.name == "is_holiday":
            values[spec.name] = (rng.random(rows) < 0.05).astype(np.int64)
        elif spec.name in ints:
            values[spec.name] = rng.integers(*ints[spec.name], rows)
        else:
            values[spec.name] = rng.normal(100.0, 15.0, rows)
    return pl.DataFrame(values, schema={f.name: f.dtype for f in FEATURES})


def shift_by_one_std(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        (pl.col(c) + pl.col(c).std()).cast(frame.schema[c]).alias(c) for c in columns
    )


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return feature_frame(ROWS, seed=1)


@pytest.fixture(scope="module")
def shifted() -> pl.DataFrame:
    return shift_by_one_std(feature_frame(ROWS, seed=2), SHIFTED)


@pytest.fixture(scope="module")
def shifted_result(reference: pl.DataFrame, shifted: pl.DataFrame) -> DriftResult:
    return drift_report(reference, shifted)


def test_same_distribution_has_no_drift(reference: pl.DataFrame) -> None:
    result = drift_report(reference, feature_frame(ROWS, seed=3))
    assert result.drifted_columns == []
    assert result.n_drifted == 0
    assert result.share_drifted == 0.0
    assert result.n_columns == len(DRIFT_COLUMNS)
    assert "price_area" not in result.scores
    assert max(result.scores.values()) < result.threshold


def test_shifted_columns_are_exactly_the_drifted_ones(shifted_result: DriftResult) -> None:
    assert sorted(shifted_result.drifted_columns) == sorted(SHIFTED)
    assert shifted_result.n_drifted == 3
    assert shifted_result.share_drifted == pytest.approx(3 / len(DRIFT_COLUMNS))
    assert shifted_result.method == "wasserstein"
    assert all(shifted_result.scores[c] > 0.5 for c in SHIFTED)
    assert (shifted_result.reference_rows, shifted_result.current_rows) == (ROWS, ROWS)
    assert not shifted_result.sampled


def test_sampled_run_flags_the_same_columns(
    reference: pl.DataFrame, shifted: pl.DataFrame, shifted_result: DriftResult
) -> None:
    result = drift_report(reference, shifted, max_rows=ROWS // 2, seed=5)
    assert result.sampled
    assert (result.reference_rows, result.current_rows) == (ROWS // 2, ROWS // 2)
    assert result.drifted_columns == shifted_result.drifted_columns


def test_sample_is_deterministic_and_caps_rows() -> None:
    frame = pl.DataFrame({"row": range(10_000)})
    first = sample(frame, 1000, seed=7)
    assert first.height == 1000
    assert first.equals(sample(frame, 1000, seed=7))
    assert not first.equals(sample(frame, 1000, seed=8))
    rows = first.get_column("row")
    assert rows.n_unique() == 1000
    assert rows.is_sorted()
    assert sample(frame, 10_000, seed=7) is frame


def test_html_report_is_written_with_the_same_verdict(
    reference: pl.DataFrame, shifted: pl.DataFrame, shifted_result: DriftResult, tmp_path: Path
) -> None:
    path = tmp_path / "reports" / "drift.html"
    result = drift_report(reference, shifted, html_path=path)
    text = path.read_text(encoding="utf-8")
    assert "<html" in text.lower()
    assert "lag_24h" in text
    assert [p.name for p in path.parent.iterdir()] == ["drift.html"]
    assert result.drifted_columns == shifted_result.drifted_columns
    assert result.scores == pytest.approx(shifted_result.scores)


def test_prediction_is_monitored_when_both_frames_have_it(reference: pl.DataFrame) -> None:
    rng = np.random.default_rng(4)
    ref = reference.with_columns(pl.Series(PREDICTION, rng.normal(50.0, 5.0, ROWS)))
    cur = reference.with_columns(pl.Series(PREDICTION, rng.normal(60.0, 5.0, ROWS)))
    assert drift_report(ref, cur).drifted_columns == [PREDICTION]
    assert PREDICTION not in drift_report(ref, reference).scores


def test_column_without_values_is_not_compared(reference: pl.DataFrame) -> None:
    current = reference.with_columns(pl.lit(None, pl.Float64).alias("cooling_degrees"))
    result = drift_report(reference, current, ["lag_24h", "cooling_degrees"])
    assert result.not_compared == ["cooling_degrees"]
    assert list(result.scores) == ["lag_24h"]
    assert result.n_columns == 1


@pytest.mark.parametrize("side", ["reference", "current"])
def test_empty_frame_is_named(reference: pl.DataFrame, side: str) -> None:
    frames = {"reference": reference, "current": reference, side: reference.clear()}
    with pytest.raises(ValueError, match=f"The {side} frame is empty"):
        drift_report(frames["reference"], frames["current"])


def test_missing_columns_are_named(reference: pl.DataFrame) -> None:
    current = reference.drop("lag_48h", "month")
    with pytest.raises(ValueError, match=r"current frame lacks column\(s\) \['month', 'lag_48h'\]"):
        drift_report(reference, current)


def test_non_numeric_column_is_refused(reference: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"non-numeric.*price_area"):
        drift_report(reference, reference, ["price_area", "lag_24h"])


# --- like for like: day type, level, holidays ----------------------------------------------------

MONITORED = list(MONITORED_COLUMNS)  # as the drift_report asset


def calendar_frame(first: date, days: int, segments: int, seed: int) -> pl.DataFrame:
    """Hourly rows of `segments` segments with a consistent calendar (Danish local time) and
    consumption columns drawn around each segment's level."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hours = pl.datetime_range(
        start, start + timedelta(days=days), "1h", closed="left", eager=True
    ).alias(TIMESTAMP)
    frame = pl.DataFrame({ENTITY: [f"DK1-{i}" for i in range(segments)]}).join(
        hours.to_frame(), how="cross"
    )
    local = pl.col(TIMESTAMP).dt.convert_time_zone("Europe/Copenhagen")
    rng = np.random.default_rng(seed)
    level = np.repeat(10.0 ** rng.uniform(2, 6, segments), frame.height // segments)
    return frame.with_columns(
        (local.dt.weekday() - 1).cast(pl.Int64).alias("day_of_week"),
        local.dt.hour().cast(pl.Int64).alias("hour_of_day"),
        pl.lit(0, pl.Int64).alias("is_holiday"),
        pl.Series(LEVEL, level),
        *(
            pl.Series(c, level * rng.normal(1.0, 0.1, frame.height))
            for c in MONITORED
            if c != LEVEL
        ),
    )


def test_consumption_is_compared_relative_to_the_level_which_is_not_compared() -> None:
    frame = calendar_frame(date(2025, 3, 3), 7, 4, seed=1)
    comparison = like_for_like(frame, frame.filter(pl.col("day_of_week") == 2), MONITORED)
    assert comparison.skipped is None
    assert comparison.columns == [c for c in MONITORED if c != LEVEL]
    # Segments 10^4 apart in size end up on one scale, around 1.
    assert comparison.current.get_column("lag_24h").mean() == pytest.approx(1.0, abs=0.02)
    assert comparison.reference.get_column("prediction").max() < 2.0


def test_each_row_is_compared_with_its_own_weekday_and_hour() -> None:
    reference = calendar_frame(date(2025, 3, 3), 21, 5, seed=2)
    # A Monday whose consumption is half of everything in the reference, so the matched rows
    # can be told apart by value: only Monday rows may be drawn.
    reference = reference.with_columns(
        pl.when(pl.col("day_of_week") == 0).then(pl.col(c) * 0.5).otherwise(pl.col(c))
        for c in MONITORED
        if c != LEVEL
    )
    monday = calendar_frame(date(2025, 3, 31), 1, 5, seed=3).filter(pl.col("day_of_week") == 0)
    comparison = like_for_like(reference, monday, MONITORED)
    assert comparison.reference.get_column("lag_24h").max() < 0.8
    assert comparison.subset.startswith("Monday 100% reference, ")
    assert comparison.reference.height == 3 * monday.height  # three Mondays, the same hours


def test_the_utc_day_draws_each_local_weekday_in_its_own_share() -> None:
    reference = calendar_frame(date(2025, 3, 3), 21, 3, seed=4)
    tuesday_utc = calendar_frame(date(2025, 3, 25), 1, 3, seed=5)  # 23 h Tuesday, 1 h Wednesday
    comparison = like_for_like(reference, tuesday_utc, MONITORED)
    assert comparison.subset.startswith("Tuesday 96% + Wednesday 4% reference")


def test_rows_whose_features_read_a_holiday_are_found_hour_by_hour() -> None:
    # Easter 2025: Maundy Thursday 17 April to Easter Monday 21 April.
    hours = calendar_frame(date(2025, 4, 14), 21, 1, seed=6)
    local = pl.col(TIMESTAMP).dt.convert_time_zone("Europe/Copenhagen")
    days = (
        hours.with_columns(reads_holiday(hours))
        .group_by(local.dt.date().alias("day"))
        .agg(pl.col("reads_holiday").all().alias("all"), pl.col("reads_holiday").any())
        .sort("day")
    )
    read = {day: (every, some) for day, every, some in days.iter_rows()}
    assert read[date(2025, 4, 16)] == (False, False)
    assert all(read[date(2025, 4, 17) + timedelta(days=i)] == (True, True) for i in range(12))
    # The weekly window of a target hour starts 191 h back: 29 April 00:00 still reaches
    # Easter Monday, 29 April 23:00 no longer does.
    assert read[date(2025, 4, 29)] == (False, True)
    assert read[date(2025, 4, 30)] == (False, False)
    assert read[date(2025, 5, 1)] == (True, True)  # same_hour_mean_2w: Maundy Thursday


def test_a_day_that_reads_a_holiday_is_skipped_and_says_why() -> None:
    reference = calendar_frame(date(2025, 3, 3), 21, 3, seed=7)
    after_easter = calendar_frame(date(2025, 4, 22), 1, 3, seed=8)
    comparison = like_for_like(reference, after_easter, MONITORED)
    assert comparison.skipped is not None
    assert "read a holiday in their feature windows" in comparison.skipped
    assert comparison.current.is_empty() and comparison.subset == "none"


def test_a_reference_prepared_once_compares_each_day_as_like_for_like_does() -> None:
    reference = calendar_frame(date(2025, 3, 3), 21, 6, seed=10)
    # A Monday, a UTC Tuesday with an hour of Wednesday, a Saturday, and a day after Easter.
    days = [date(2025, 3, 31), date(2025, 3, 25), date(2025, 3, 29), date(2025, 4, 22)]
    currents = [calendar_frame(day, 1, 6, seed=11 + i) for i, day in enumerate(days)]

    prepared = prepare_reference(reference, MONITORED)
    once = [compare(prepared, current) for current in currents]
    each = [like_for_like(reference, current, MONITORED) for current in currents]

    for day, ranged, alone in zip(days, once, each, strict=True):
        assert (ranged.skipped, ranged.subset, ranged.columns) == (
            alone.skipped,
            alone.subset,
            alone.columns,
        ), day
        assert ranged.reference.equals(alone.reference) and ranged.current.equals(alone.current)
    assert once[-1].skipped is not None and all(c.skipped is None for c in once[:-1])
    results = [
        drift_report(c.reference, c.current, c.columns, method=DAILY_METHOD) for c in once[:-1]
    ]
    expected = [
        drift_report(c.reference, c.current, c.columns, method=DAILY_METHOD) for c in each[:-1]
    ]
    assert [(r.share_drifted, r.scores) for r in results] == [
        (r.share_drifted, r.scores) for r in expected
    ]


def test_a_reference_without_the_calendar_is_refused_before_any_day() -> None:
    frame = calendar_frame(date(2025, 3, 3), 1, 2, seed=9)
    with pytest.raises(ValueError, match=r"reference frame lacks column\(s\) \['is_holiday'"):
        prepare_reference(frame.drop("is_holiday"), MONITORED)


def test_a_frame_without_the_calendar_or_the_level_is_refused() -> None:
    frame = calendar_frame(date(2025, 3, 3), 1, 2, seed=9)
    with pytest.raises(ValueError, match=r"current frame lacks column\(s\) \['rolling_mean_168h'"):
        like_for_like(frame, frame.drop(LEVEL), MONITORED)


# --- measured on generated data: no false alarm, a level shift found within two days -------------

# The bench (bench/drift.py --quality) runs 8 weeks at 76 and 760 segments; here two ordinary
# weeks of March at 76 segments keep the test under a minute.
TRAINING_START = date(2024, 2, 5)
TRAINING_DAYS = 28
UNDRIFTED_DAYS = 14
SHIFT_START = date(2024, 3, 16)  # a Saturday: its first two reports fall on Sunday and Monday


def _forecast(model: Forecaster, features: pl.DataFrame) -> pl.DataFrame:
    predicted = features.with_columns(pl.Series(PREDICTION, model.predict(features)).fill_nan(None))
    return predicted.drop_nulls(MONITORED)


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    """training_job's split, fit and reference on 28 generated days at 76 segments, and the
    weather and model needed to forecast the days after."""
    config = GeneratorConfig(n_consumer_types=38)
    training = [TRAINING_START + timedelta(days=i) for i in range(TRAINING_DAYS)]
    monitored = [training[-1] + timedelta(days=i + 1) for i in range(UNDRIFTED_DAYS)]
    shifted = [SHIFT_START + timedelta(days=k) for k in (1, 2)]
    history = scenario.generate(config, sorted({*training, *monitored, *shifted}))
    model, reference = scenario.train_like_production(history.labelled(training))
    return {
        "config": config,
        "weather": history.weather,
        "model": model,
        "reference": reference,
        "days": {day: _forecast(model, history.features[day]) for day in monitored},
    }


def _retrains(reference: pl.DataFrame, current: pl.DataFrame, day: date) -> tuple[bool, str]:
    """The drift_report asset's verdict with the default settings, and what drove it."""
    policy = MonitoringPolicy()
    comparison = like_for_like(reference, current, MONITORED)
    assert comparison.skipped is None, f"{day}: {comparison.skipped}"
    result = drift_report(
        comparison.reference,
        comparison.current,
        comparison.columns,
        method=policy.drift_method,
        threshold=policy.drift_column_threshold,
    )
    trigger = drift_trigger(
        str(day), result.share_drifted, result.drifted_columns, policy.drift_share_threshold
    )
    return trigger is not None, f"{day}: share {result.share_drifted:.2f} {result.scores}"


def test_the_defaults_are_the_measured_design() -> None:
    policy = MonitoringPolicy()
    assert (policy.drift_method, policy.drift_column_threshold) == (
        DAILY_METHOD,
        DAILY_COLUMN_THRESHOLD,
    )
    assert policy.drift_share_threshold == DAILY_SHARE_THRESHOLD


def test_undrifted_days_never_retrain_weekends_included(generated: dict[str, Any]) -> None:
    verdicts = [_retrains(generated["reference"], c, d) for d, c in generated["days"].items()]
    assert {day.weekday() for day in generated["days"]} == set(range(7))
    assert [why for fires, why in verdicts if fires] == []


def test_a_level_shift_of_a_third_of_the_segments_retrains_within_two_days(
    generated: dict[str, Any],
) -> None:
    codes = generated["config"].consumer_types
    shifted = GeneratorConfig(
        n_consumer_types=len(codes),
        drift=(Drift(start=SHIFT_START, consumer_types=tuple(codes[::3]), level_shift=0.3),),
    )
    after = [SHIFT_START + timedelta(days=k) for k in (1, 2)]
    end = scenario.utc(after[-1]) + timedelta(days=1)
    consumption = stage_consumption(
        generate_consumption(scenario.utc(after[0]) - timedelta(hours=LOOKBACK_HOURS), end, shifted)
    )
    features = build_daily_features(consumption, generated["weather"], after)
    verdicts = [
        _retrains(generated["reference"], _forecast(generated["model"], features[d]), d)
        for d in after
    ]
    assert any(fires for fires, _ in verdicts), [why for _, why in verdicts]
