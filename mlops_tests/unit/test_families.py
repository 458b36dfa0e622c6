"""The model families of a candidate run: fitted side by side, chosen on the validation days,
stored without pickle and loaded back to the same forecasts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.lib import families
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import LABEL
from mlops_tests.unit.test_forecasting import training_frame

VALIDATION_DAYS = 7


@pytest.fixture(scope="module")
def split() -> fc.Split:
    return fc.time_split(training_frame(days=35), VALIDATION_DAYS, 7)


@pytest.fixture(scope="module")
def selection(split: fc.Split) -> families.Selection:
    return families.select(split, fc.BoosterParams(), seed=7)


def test_every_family_is_scored_on_the_same_validation_rows_and_the_best_is_kept(
    split: fc.Split, selection: families.Selection
) -> None:
    table = selection.table()
    assert table.get_column("family").to_list() == list(families.FAMILIES)
    assert table.filter(pl.col("chosen")).get_column("family").to_list() == [selection.chosen]
    assert selection.chosen == table.sort("validation_wape").item(0, "family")
    rows = {c.validation.overall["rows"] for c in selection.candidates}
    assert rows == {fc.comparable_rows(split.validation).height}
    # weekday_naive needs no fit: its validation WAPE is the baseline's on the same rows.
    naive = next(c for c in selection.candidates if c.family == "weekday_naive")
    scored = fc.comparable_rows(split.validation)
    error = (scored.get_column("weekday_naive") - scored.get_column(LABEL)).abs().sum()
    assert naive.validation.overall["wape"] == pytest.approx(
        error / scored.get_column(LABEL).sum() * 100
    )


def test_the_chosen_family_is_refit_on_train_and_validation(
    split: fc.Split, selection: families.Selection
) -> None:
    assert selection.forecaster.family == selection.chosen
    assert selection.rows == split.train.height + split.validation.height
    if selection.chosen == "xgboost":
        assert selection.fit is not None
        booster = selection.forecaster.booster  # type: ignore[attr-defined]
        assert booster.num_boosted_rounds() == selection.fit.rounds


def test_a_row_cap_fits_on_a_seeded_sample_and_leaves_validation_whole(split: fc.Split) -> None:
    cap = split.train.height // 3
    sample = families.capped(split.train, cap, seed=7)
    assert sample.height == cap
    assert sample.equals(families.capped(split.train, cap, seed=7))  # seeded
    assert sample.get_column("event_timestamp").is_sorted()  # rows keep their order
    assert families.capped(split.train, split.train.height, seed=7) is split.train
    assert families.capped(split.train, 0, seed=7) is split.train

    said: list[str] = []
    capped = families.select(
        split, fc.BoosterParams(), seed=7, families=["xgboost"], max_rows=cap, log=said.append
    )
    assert capped.rows == cap  # the refit on train + validation is capped alike
    [candidate] = capped.candidates
    assert candidate.validation.overall["rows"] == fc.comparable_rows(split.validation).height
    assert any(f"fitting on {cap:,} of {split.train.height:,} rows" in line for line in said)


def _fitted(split: fc.Split, family: str) -> families.Forecaster:
    if family == "blend":
        members = [_fitted(split, name) for name in ("xgboost", "ridge")]
        return families.BlendForecaster(members)
    return families.select(split, fc.BoosterParams(), seed=7, families=[family]).forecaster


@pytest.mark.parametrize("family", families.FAMILIES)
def test_each_family_round_trips_through_its_safe_format(
    split: fc.Split, family: str, tmp_path: Path
) -> None:
    chosen = _fitted(split, family)
    files = chosen.save(tmp_path)
    spec = json.loads((tmp_path / families.SPEC_FILE).read_text())
    assert spec["family"] == family
    suffixes = {p.suffix for p in files}
    assert suffixes <= {".json", ".ubj"}
    assert (".ubj" in suffixes) == (family in ("xgboost", "blend"))
    loaded = families.load(tmp_path)
    assert np.array_equal(loaded.predict(split.test), chosen.predict(split.test), equal_nan=True)


def test_a_blend_is_the_mean_of_the_two_best_families(
    split: fc.Split, selection: families.Selection
) -> None:
    scores = {c.family: c.validation.overall["wape"] for c in selection.candidates}
    blend = next(c for c in selection.candidates if c.family == "blend")
    members = [m.family for m in blend.forecaster.members]  # type: ignore[attr-defined]
    singles = sorted((f for f in scores if f != "blend"), key=scores.__getitem__)
    assert members == singles[:2]
    mean = np.mean([m.predict(split.test) for m in blend.forecaster.members], axis=0)  # type: ignore[attr-defined]
    assert np.allclose(blend.forecaster.predict(split.test), mean, equal_nan=True)


def test_ridge_learns_a_coefficient_per_day_type() -> None:
    # Tuesday-Friday are exactly yesterday's hour, every other day exactly last week's: the
    # per-day-type design recovers both rules.
    rng = np.random.default_rng(3)
    n = 4_000
    day_type = rng.integers(0, 4, n)
    level = rng.uniform(50, 150, n)
    lags = {c: level * rng.uniform(0.7, 1.3, n) for c in families.RIDGE_INPUTS}
    frame = pl.DataFrame(
        {
            **lags,
            families.RIDGE_LEVEL: level,
            "day_type": day_type,
            LABEL: np.where(day_type == 1, lags["lag_24h"], lags["lag_168h"]),
        }
    )
    model = families.fit_ridge(frame, alpha=1e-6)
    assert np.allclose(model.predict(frame), frame.get_column(LABEL).to_numpy(), rtol=1e-4)


def test_weekday_naive_falls_back_to_last_week() -> None:
    frame = pl.DataFrame({"weekday_naive": [10.0, None], "lag_168h": [7.0, 8.0]})
    assert families.WeekdayNaiveForecaster().predict(frame).tolist() == [10.0, 8.0]


def test_a_family_without_the_history_it_needs_steps_aside(split: fc.Split) -> None:
    blank = pl.lit(None, pl.Float64).alias(families.RIDGE_LEVEL)
    short = fc.Split(
        train=split.train.with_columns(blank),
        validation=split.validation,
        test=split.test,
        test_start=split.test_start,
        validation_start=split.validation_start,
    )
    chosen = families.select(short, fc.BoosterParams(), 7, families=["ridge", "weekday_naive"])
    assert [c.family for c in chosen.candidates] == ["weekday_naive"]
    assert chosen.notes and chosen.notes[0].startswith("ridge not fitted")


def test_unknown_families_are_refused(split: fc.Split) -> None:
    with pytest.raises(ValueError, match="unknown model families"):
        families.select(split, fc.BoosterParams(), 7, families=["prophet"])
    with pytest.raises(ValueError, match="unknown model family"):
        families.from_spec({"family": "pickle"})


def test_the_validation_window_precedes_the_test_window(split: fc.Split) -> None:
    _, validation_end = split.window("validation")
    assert validation_end == split.test_start
    assert split.test_start - split.validation_start == timedelta(days=VALIDATION_DAYS)
