"""Drift reports with the real Evidently on generated feature frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.lib.drift import DRIFT_COLUMNS, DriftResult, drift_report, sample
from mlops_assets.lib.features import FEATURES
from mlops_assets.lib.forecasting import PREDICTION

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
