"""Forecasting without MLflow or Dagster: split, fit, search, metrics, baselines and the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP, build_features, staged_window
from mlops_assets.lib.generator import GeneratorConfig, generate_consumption, generate_weather
from mlops_assets.lib.staging import stage_consumption, stage_weather

START = datetime(2025, 1, 6, tzinfo=UTC)
DAYS = 20


def training_frame(days: int = DAYS, n_consumer_types: int = 4) -> pl.DataFrame:
    """Generated history -> the real feature code -> labels joined: a real training set."""
    end = START + timedelta(days=days)
    config = GeneratorConfig(n_consumer_types=n_consumer_types)
    history_start, _ = staged_window(START, end)
    consumption = stage_consumption(generate_consumption(history_start, end, config))
    weather = stage_weather(generate_weather(START, end, config))
    features = build_features(consumption, weather, START, end)
    labels = consumption.select(
        pl.col("segment_id").alias(ENTITY),
        pl.col("hour_utc").dt.replace_time_zone("UTC").alias(TIMESTAMP),
        pl.col(LABEL),
    )
    return features.join(labels, on=[ENTITY, TIMESTAMP])


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return training_frame()


@pytest.fixture(scope="module")
def split(frame: pl.DataFrame) -> fc.Split:
    return fc.time_split(frame, validation_days=2, test_days=2)


@pytest.fixture(scope="module")
def fitted(split: fc.Split) -> fc.FitResult:
    return fc.fit(split.train, split.validation, fc.BoosterParams(), seed=7)


# --- split -------------------------------------------------------------------------------------


def test_split_is_time_ordered_at_day_boundaries(frame: pl.DataFrame, split: fc.Split) -> None:
    end = START + timedelta(days=DAYS)
    assert split.test_start == end - timedelta(days=2)
    assert split.validation_start == end - timedelta(days=4)
    train_max = split.train.get_column(TIMESTAMP).max()
    assert train_max < split.validation.get_column(TIMESTAMP).min()  # type: ignore[operator]
    assert split.validation.get_column(TIMESTAMP).max() < split.test_start  # type: ignore[operator]
    assert split.test.get_column(TIMESTAMP).min() == split.test_start
    total = split.train.height + split.validation.height + split.test.height
    assert total == fc.labelled(frame).height


def test_split_refuses_a_window_too_short_and_says_why(frame: pl.DataFrame) -> None:
    short = frame.filter(pl.col(TIMESTAMP) >= START + timedelta(days=DAYS - 3))
    with pytest.raises(ValueError, match="too short for 2 validation and 2 test days"):
        fc.time_split(short, 2, 2)


def test_missing_columns_are_named(frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="lag_24h"):
        fc.time_split(frame.drop("lag_24h"), 2, 2)


# --- model -------------------------------------------------------------------------------------


def test_design_matrix_scales_consumption_by_the_level(frame: pl.DataFrame) -> None:
    row = frame.filter(pl.col("same_hour_mean_2w").is_not_null()).head(1)
    matrix = fc.design_matrix(row)
    column = {name: i for i, name in enumerate(fc.MODEL_FEATURES)}
    level = row.item(0, "same_hour_mean_2w")
    assert matrix[0, column["lag_24h"]] == pytest.approx(row.item(0, "lag_24h") / level, rel=1e-6)
    assert matrix[0, column["temperature_c"]] == pytest.approx(row.item(0, "temperature_c"))
    assert matrix[0, column["price_area"]] == float(row.item(0, "price_area")[-1])
    assert matrix[0, column["log10_level"]] == pytest.approx(np.log10(level), rel=1e-6)


def test_nulls_become_nan_and_rows_without_level_predict_nan(fitted: fc.FitResult) -> None:
    frame = (
        training_frame(days=1)
        .head(3)
        .with_columns(
            pl.lit(None, pl.Float64).alias("same_hour_mean_2w"),
            pl.lit(None, pl.Float64).alias("lag_168h"),
        )
    )
    assert np.isnan(fc.design_matrix(frame)[:, list(fc.MODEL_FEATURES).index("lag_168h")]).all()
    assert np.isnan(fc.predict(fitted.booster, frame)).all()


def test_fit_stops_early_and_keeps_only_the_best_trees(fitted: fc.FitResult) -> None:
    rounds = len(fitted.curve["validation"])
    assert fitted.best_iteration < rounds - 1  # early stopping fired
    assert fitted.booster.num_boosted_rounds() == fitted.best_iteration + 1
    assert min(fitted.curve["validation"]) == fitted.curve["validation"][fitted.best_iteration]


def test_fit_is_reproducible_and_round_trips_through_ubj(
    split: fc.Split, fitted: fc.FitResult, tmp_path: Path
) -> None:
    import xgboost as xgb

    again = fc.fit(split.train, split.validation, fc.BoosterParams(), seed=7)
    first = fc.predict(fitted.booster, split.test)
    np.testing.assert_array_equal(first, fc.predict(again.booster, split.test))
    path = tmp_path / "model.ubj"
    fitted.booster.save_model(path)
    loaded = xgb.Booster(model_file=str(path))
    np.testing.assert_array_equal(first, fc.predict(loaded, split.test))


def test_the_model_beats_both_baselines_on_generated_data(
    split: fc.Split, fitted: fc.FitResult
) -> None:
    scores = fc.evaluate_all(split.test, {"candidate": fc.predict(fitted.booster, split.test)})
    assert scores["candidate"].overall["mae"] < scores["seasonal_naive"].overall["mae"]
    assert scores["candidate"].overall["mae"] < scores["same_hour_yesterday"].overall["mae"]


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_match_scikit_learn_and_cover_segments_and_horizons(split: fc.Split) -> None:
    rng = np.random.default_rng(0)
    truth = split.test.get_column(LABEL).to_numpy()
    guess = truth * rng.uniform(0.9, 1.1, truth.size)
    scores = fc.evaluate_all(split.test, {"model": guess})["model"]
    assert scores.overall["mae"] == pytest.approx(mean_absolute_error(truth, guess))
    assert scores.overall["rmse"] == pytest.approx(np.sqrt(mean_squared_error(truth, guess)))
    assert scores.overall["r2"] == pytest.approx(r2_score(truth, guess))
    assert scores.overall["mape"] == pytest.approx(np.mean(np.abs(guess - truth) / truth) * 100)
    assert scores.per_horizon.get_column(fc.HORIZON).to_list() == list(range(1, 25))
    assert scores.per_segment.height == split.test.get_column(ENTITY).n_unique()
    assert scores.per_segment.get_column("rows").sum() == truth.size


def test_baselines_are_last_week_and_yesterday_at_the_same_hour(split: fc.Split) -> None:
    scores = fc.evaluate_all(split.test, {})
    truth = split.test.get_column(LABEL).to_numpy()
    naive = split.test.get_column("lag_168h").to_numpy()
    assert scores["seasonal_naive"].overall["mae"] == pytest.approx(np.mean(np.abs(naive - truth)))
    yesterday = split.test.get_column("lag_24h").to_numpy()
    assert scores["same_hour_yesterday"].overall["mae"] == pytest.approx(
        np.mean(np.abs(yesterday - truth))
    )


def test_evaluation_survives_json(split: fc.Split) -> None:
    scores = fc.evaluate_all(split.test, {})["seasonal_naive"]
    again = fc.Evaluation.from_json(scores.to_json())
    assert again.overall == scores.overall
    assert again.per_segment.equals(scores.per_segment)


# --- search ------------------------------------------------------------------------------------


def test_search_is_seeded_and_budgeted(split: fc.Split) -> None:
    quick = fc.BoosterParams(max_rounds=30, early_stopping_rounds=5)
    first = fc.search(split.train, n_trials=2, time_limit_s=600, seed=3, base=quick)
    second = fc.search(split.train, n_trials=2, time_limit_s=600, seed=3, base=quick)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.cv_mae for t in first.trials] == [t.cv_mae for t in second.trials]
    assert first.best is not None and first.best.cv_mae == min(t.cv_mae for t in first.trials)
    assert first.table().height == 2
    stopped = fc.search(split.train, n_trials=5, time_limit_s=0.0, seed=3, base=quick)
    assert stopped.stopped_by == "time limit" and len(stopped.trials) < 5
    assert fc.search(split.train, n_trials=0, time_limit_s=600, seed=3).best is None


# --- gate --------------------------------------------------------------------------------------


def _scores(name: str, mae: float, per_segment: dict[str, float]) -> fc.Evaluation:
    return fc.Evaluation(
        name=name,
        overall={"mae": mae, "rmse": mae, "mape": mae / 10, "r2": 0.9, "rows": 10.0},
        per_segment=pl.DataFrame({ENTITY: list(per_segment), "mae": list(per_segment.values())}),
        per_horizon=pl.DataFrame({fc.HORIZON: [1], "mae": [mae]}),
    )


POLICY = fc.GatePolicy(baseline_margin=0.05, champion_tolerance=0.0, segment_tolerance=0.25)
BASELINE = _scores("seasonal_naive", 100.0, {"a": 100.0, "b": 100.0})


def test_gate_first_run_needs_only_the_baseline_margin() -> None:
    passed = fc.gate(_scores("candidate", 94.0, {"a": 90, "b": 98}), BASELINE, None, POLICY)
    assert passed.passed and "no champion yet" in passed.reasons[-1]
    failed = fc.gate(_scores("candidate", 96.0, {"a": 90, "b": 98}), BASELINE, None, POLICY)
    assert not failed.passed and failed.reasons[0].startswith("FAIL")
    assert failed.comparison.get_column("forecaster").to_list() == ["candidate", "seasonal_naive"]


def test_gate_refuses_a_candidate_worse_than_the_champion() -> None:
    champion = _scores("champion", 80.0, {"a": 80, "b": 80})
    decision = fc.gate(_scores("candidate", 85.0, {"a": 85, "b": 85}), BASELINE, champion, POLICY)
    assert not decision.passed
    assert any(r.startswith("FAIL: candidate MAE 85.000 vs champion") for r in decision.reasons)


def test_gate_refuses_a_candidate_much_worse_on_one_segment() -> None:
    champion = _scores("champion", 80.0, {"a": 60, "b": 100})
    candidate = _scores("candidate", 79.0, {"a": 80, "b": 78})  # better overall, a +33 %
    decision = fc.gate(candidate, BASELINE, champion, POLICY)
    assert not decision.passed
    assert decision.worse_segments.get_column(ENTITY).to_list() == ["a"]
    lenient = fc.gate(candidate, BASELINE, champion, fc.GatePolicy(0.05, 0.0, 0.5))
    assert lenient.passed
