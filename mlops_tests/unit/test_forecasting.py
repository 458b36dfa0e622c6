"""Forecasting without MLflow or Dagster: split, fit and refit, search, metrics, baselines, the
paired test and the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from mlops_assets.lib import families
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.generator import (
    GeneratorConfig,
)
from mlops_assets.lib.scenario import one_window_training_set

if TYPE_CHECKING:
    import xgboost as xgb

START = datetime(2025, 1, 6, tzinfo=UTC)
DAYS = 20
TEST_DAYS = 7


def training_frame(days: int = DAYS, n_consumer_types: int = 4) -> pl.DataFrame:
    """Generated history -> the real feature code -> labels joined: a real training set."""
    return one_window_training_set(
        START, START + timedelta(days=days), GeneratorConfig(n_consumer_types=n_consumer_types)
    )


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return training_frame()


@pytest.fixture(scope="module")
def split(frame: pl.DataFrame) -> fc.Split:
    return fc.time_split(frame, validation_days=2, test_days=TEST_DAYS)


@pytest.fixture(scope="module")
def fitted(split: fc.Split) -> fc.FitResult:
    return fc.fit(split.train, split.validation, fc.BoosterParams(), seed=7)


@pytest.fixture(scope="module")
def final(split: fc.Split) -> families.Selection:
    """XGBoost alone through the families' selection: rounds chosen on validation, then refit."""
    return families.select(split, fc.BoosterParams(), seed=7, families=["xgboost"])


def booster_of(selection: families.Selection) -> xgb.Booster:
    assert isinstance(selection.forecaster, families.XGBoostForecaster)
    return selection.forecaster.booster


# --- split -------------------------------------------------------------------------------------


def test_split_is_time_ordered_at_day_boundaries(frame: pl.DataFrame, split: fc.Split) -> None:
    end = START + timedelta(days=DAYS)
    assert split.test_start == end - timedelta(days=7)
    assert split.validation_start == end - timedelta(days=9)
    train_max = split.train.get_column(TIMESTAMP).max()
    assert train_max < split.validation.get_column(TIMESTAMP).min()  # type: ignore[operator]
    assert split.validation.get_column(TIMESTAMP).max() < split.test_start  # type: ignore[operator]
    assert split.test.get_column(TIMESTAMP).min() == split.test_start
    total = split.train.height + split.validation.height + split.test.height
    assert total == fc.labelled(frame).height


def test_split_refuses_a_window_too_short_and_says_why(frame: pl.DataFrame) -> None:
    short = frame.filter(pl.col(TIMESTAMP) >= START + timedelta(days=DAYS - 9))
    with pytest.raises(ValueError, match="too short for 2 validation and 7 test days"):
        fc.time_split(short, 2, 7)


def test_split_refuses_a_test_window_shorter_than_a_week(frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"test_days=6: .* at least 7 days .* MLOPS_TEST_DAYS"):
        fc.time_split(frame, 2, 6)


def test_missing_columns_are_named(frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="lag_24h"):
        fc.time_split(frame.drop("lag_24h"), 2, 7)


# --- model -------------------------------------------------------------------------------------


def test_design_matrix_scales_consumption_by_the_level(frame: pl.DataFrame) -> None:
    row = frame.filter(pl.col(fc.LEVEL).is_not_null(), pl.col("lag_336h").is_not_null()).head(1)
    matrix = fc.design_matrix(row)
    column = {name: i for i, name in enumerate(fc.MODEL_FEATURES)}
    level = row.item(0, fc.LEVEL)
    assert matrix[0, column["lag_24h"]] == pytest.approx(row.item(0, "lag_24h") / level, rel=1e-6)
    assert matrix[0, column["lag_336h"]] == pytest.approx(row.item(0, "lag_336h") / level, rel=1e-6)
    change = row.item(0, "rolling_mean_24h") / row.item(0, "rolling_mean_24h_last_week")
    assert matrix[0, column["day_on_day_last_week"]] == pytest.approx(change, rel=1e-6)
    assert matrix[0, column["lag_168h_level_adjusted"]] == pytest.approx(
        row.item(0, "lag_168h") * change / level, rel=1e-6
    )
    assert matrix[0, column["temperature_c"]] == pytest.approx(row.item(0, "temperature_c"))
    assert matrix[0, column["price_area"]] == float(row.item(0, "price_area")[-1])
    assert matrix[0, column["log10_level"]] == pytest.approx(np.log10(level), rel=1e-6)


def test_nulls_become_nan_and_rows_without_level_predict_nan(fitted: fc.FitResult) -> None:
    frame = (
        training_frame(days=1)
        .head(3)
        .with_columns(
            pl.lit(None, pl.Float64).alias(fc.LEVEL),
            pl.lit(None, pl.Float64).alias(fc.LEVEL_FALLBACK),
        )
    )
    assert np.isnan(fc.design_matrix(frame)[:, list(fc.MODEL_FEATURES).index("lag_168h")]).all()
    assert np.isnan(fc.predict(fitted.booster, frame)).all()


def test_fit_stops_early_and_keeps_only_the_best_trees(fitted: fc.FitResult) -> None:
    rounds = len(fitted.curve["validation"])
    assert fitted.best_iteration < rounds - 1  # early stopping fired
    assert fitted.booster.num_boosted_rounds() == fitted.best_iteration + 1
    assert min(fitted.curve["validation"]) == fitted.curve["validation"][fitted.best_iteration]


def test_the_final_model_is_refit_on_train_and_validation_with_the_chosen_rounds(
    split: fc.Split, fitted: fc.FitResult, final: families.Selection
) -> None:
    both = pl.concat([split.train, split.validation])
    assert final.chosen == "xgboost"
    assert final.fit is not None
    assert final.fit.best_iteration == fitted.best_iteration  # rounds chosen on validation
    assert booster_of(final).num_boosted_rounds() == fitted.rounds
    assert final.rows == both.height == split.train.height + split.validation.height
    assert final.fit.curve == fitted.curve  # the curve shown is the one that chose the rounds
    assert final.fit.cluster == "" and final.fit.where == "in this process"
    params = fc.BoosterParams()
    on_both = fc.refit(both, params, fitted.rounds, seed=7)
    on_train = fc.refit(split.train, params, fitted.rounds, seed=7)
    predicted = fc.predict(booster_of(final), split.test)
    np.testing.assert_array_equal(predicted, fc.predict(on_both, split.test))
    assert not np.array_equal(predicted, fc.predict(on_train, split.test))
    # It has seen the validation days, which the early-stopped model only scored.
    truth = split.validation.get_column(LABEL).to_numpy()
    seen = np.abs(fc.predict(booster_of(final), split.validation) - truth).mean()
    unseen = np.abs(fc.predict(fitted.booster, split.validation) - truth).mean()
    assert seen < unseen


def test_fit_is_reproducible_and_round_trips_through_ubj(
    split: fc.Split, final: families.Selection, tmp_path: Path
) -> None:
    import xgboost as xgb

    again = families.select(split, fc.BoosterParams(), seed=7, families=["xgboost"])
    first = fc.predict(booster_of(final), split.test)
    np.testing.assert_array_equal(first, fc.predict(booster_of(again), split.test))
    path = tmp_path / "model.ubj"
    booster_of(final).save_model(path)
    loaded = xgb.Booster(model_file=str(path))
    np.testing.assert_array_equal(first, fc.predict(loaded, split.test))


def test_the_model_beats_both_baselines_on_generated_data(
    split: fc.Split, final: families.Selection
) -> None:
    scores = fc.evaluate_all(split.test, {"candidate": final.forecaster.predict(split.test)})
    assert scores["candidate"].overall["wape"] < scores["seasonal_naive"].overall["wape"]
    assert scores["candidate"].overall["wape"] < scores["same_hour_yesterday"].overall["wape"]


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_match_scikit_learn_and_cover_segments_categories_and_horizons(
    split: fc.Split,
) -> None:
    rng = np.random.default_rng(0)
    truth = split.test.get_column(LABEL).to_numpy()
    guess = truth * rng.uniform(0.9, 1.1, truth.size)
    scores = fc.evaluate_all(split.test, {"model": guess})["model"]
    assert scores.overall["wape"] == pytest.approx(
        np.abs(guess - truth).sum() / np.abs(truth).sum() * 100
    )
    assert scores.overall["mae"] == pytest.approx(mean_absolute_error(truth, guess))
    assert scores.overall["rmse"] == pytest.approx(np.sqrt(mean_squared_error(truth, guess)))
    assert scores.overall["r2"] == pytest.approx(r2_score(truth, guess))
    assert scores.overall["mape"] == pytest.approx(np.mean(np.abs(guess - truth) / truth) * 100)
    assert scores.per_horizon.get_column(fc.HORIZON).to_list() == list(range(1, 25))
    assert scores.per_segment.height == split.test.get_column(ENTITY).n_unique()
    assert scores.per_segment.get_column("rows").sum() == truth.size
    for table in (scores.per_segment, scores.per_category, scores.per_horizon):
        assert "wape" in table.columns
    # Four consumer types, one of each load-shape category the generator mixes first.
    assert scores.per_category.get_column(fc.CATEGORY).to_list() == [
        "commerce",
        "household",
        "industry_continuous",
        "industry_shift",
    ]
    assert scores.per_category.get_column("rows").sum() == truth.size
    days = scores.per_day
    assert days.height == TEST_DAYS
    assert days.get_column("abs_error").sum() == pytest.approx(np.abs(guess - truth).sum())


def test_categories_come_from_the_segment_id_when_consumer_type_is_absent() -> None:
    frame = pl.DataFrame({ENTITY: ["DK1-510", "DK2-450", "DK1-1037", "DK1-999"]})
    assert fc.with_category(frame).get_column(fc.CATEGORY).to_list() == [
        "household",
        "public",
        "household",  # synthetic codes follow the real type they cycle through
        "consumer_type 999",  # no grouping known: the consumer type is its own category
    ]


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
    import json

    scores = fc.evaluate_all(split.test, {})["seasonal_naive"]
    again = fc.Evaluation.from_json(json.loads(json.dumps(scores.to_json())))
    assert again.overall == scores.overall
    assert again.per_segment.equals(scores.per_segment)
    assert again.per_category.equals(scores.per_category)
    assert again.per_day.equals(scores.per_day)
    assert fc.diebold_mariano(again, scores).p_value == 0.5  # still comparable day by day


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


# --- the paired test and the gate -------------------------------------------------------------


def _noisy(test: pl.DataFrame, seed: int, noise: float, shared: float = 0.03) -> np.ndarray:
    """A forecast of the test rows with relative error: a part shared by each segment's day (one
    origin, so its 24 hours miss together) and an hourly part."""
    rng = np.random.default_rng(seed)
    truth = test.get_column(LABEL).to_numpy()
    day = test.get_column(TIMESTAMP).dt.date().rank("dense").cast(pl.Int64).to_numpy()
    segment = test.get_column(ENTITY).rank("dense").cast(pl.Int64).to_numpy()
    daily = rng.normal(0, shared, (segment.max() + 1, day.max() + 1))[segment, day]
    return truth * (1 + daily + rng.normal(0, noise, truth.size))


@pytest.fixture(scope="module")
def test_rows(split: fc.Split) -> pl.DataFrame:
    return fc.comparable_rows(split.test)


POLICY = fc.GatePolicy(baseline_margin=0.02, significance=0.05, category_tolerance=0.10)


def _gate(
    test: pl.DataFrame,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    policy: fc.GatePolicy = POLICY,
) -> fc.GateDecision:
    predictions = {
        "candidate": candidate,
        **({"champion": champion} if champion is not None else {}),
    }
    scores = fc.evaluate_all(test, predictions)
    return fc.gate(
        scores["candidate"],
        [scores[name] for name in fc.BASELINES],
        scores.get("champion"),
        policy,
    )


def test_an_equally_good_challenger_does_not_replace_the_champion(test_rows: pl.DataFrame) -> None:
    champion = _noisy(test_rows, seed=1, noise=0.04)
    decision = _gate(test_rows, _noisy(test_rows, seed=2, noise=0.04), champion)
    assert not decision.passed
    assert decision.decided_by == "diebold_mariano"
    assert decision.champion_test is not None and decision.champion_test.p_value >= 0.05
    assert any("FAIL: candidate is not significantly better" in r for r in decision.reasons)
    # A retrain that reproduces the champion exactly has no evidence at all.
    same = _gate(test_rows, champion, champion)
    assert not same.passed and same.test.p_value == 0.5 and same.test.statistic == 0.0


def test_a_clearly_better_challenger_replaces_the_champion(test_rows: pl.DataFrame) -> None:
    champion = _noisy(test_rows, seed=1, noise=0.04)
    decision = _gate(test_rows, _noisy(test_rows, seed=3, noise=0.02, shared=0.015), champion)
    assert decision.passed, decision.reasons
    test = decision.test
    assert test.against == "champion" and test.days == TEST_DAYS and test.lags == 0
    assert test.statistic < 0 and test.p_value < 0.05 and test.mean_difference < 0
    row = decision.comparison.filter(pl.col("forecaster") == "champion").row(0, named=True)
    assert row["p_value"] == pytest.approx(test.p_value)
    assert row["dm_statistic"] == pytest.approx(test.statistic)


def test_equal_skill_is_promoted_at_about_the_significance_level(
    test_rows: pl.DataFrame,
) -> None:
    # Errors of one day move together: a test on hourly losses promotes about one in eight here.
    promoted = 0
    for seed in range(60):
        scores = fc.evaluate_all(
            test_rows,
            {
                "candidate": _noisy(test_rows, seed=100 + seed, noise=0.04),
                "champion": _noisy(test_rows, seed=200 + seed, noise=0.04),
            },
        )
        promoted += fc.diebold_mariano(scores["candidate"], scores["champion"]).p_value < 0.05
    assert promoted <= 5  # 0.05 x 60 = 3 expected


def test_the_one_sided_p_value_halves_statsmodels_two_sided_one(test_rows: pl.DataFrame) -> None:
    from statsmodels.tsa.stattools import diebold_mariano_test

    scores = fc.evaluate_all(
        test_rows,
        {"candidate": _noisy(test_rows, 3, 0.03), "champion": _noisy(test_rows, 4, 0.04)},
    )
    ours = fc.diebold_mariano(scores["candidate"], scores["champion"])
    a = fc.daily_wape(scores["candidate"]).get_column("wape").to_numpy()
    b = fc.daily_wape(scores["champion"]).get_column("wape").to_numpy()
    theirs = diebold_mariano_test(
        np.zeros(a.size), a, b, lags=0, criterion="mae", harvey_adj=True, horizon=1
    )
    assert ours.statistic == pytest.approx(theirs.statistic)
    expected = theirs.pvalue / 2 if theirs.statistic < 0 else 1 - theirs.pvalue / 2
    assert ours.p_value == pytest.approx(expected)


def test_a_category_much_worse_than_the_champion_blocks_promotion(
    test_rows: pl.DataFrame,
) -> None:
    champion = _noisy(test_rows, seed=1, noise=0.04)
    candidate = _noisy(test_rows, seed=3, noise=0.02, shared=0.015)
    # industry_shift segments are small: a bad forecast there hardly moves the pooled WAPE.
    shift = fc.with_category(test_rows).get_column(fc.CATEGORY).to_numpy() == "industry_shift"
    candidate[shift] = test_rows.get_column(LABEL).to_numpy()[shift] * 1.25
    decision = _gate(test_rows, candidate, champion)
    assert not decision.passed
    assert decision.champion_test is not None and decision.champion_test.p_value < 0.05
    assert decision.worse_categories.get_column(fc.CATEGORY).to_list() == ["industry_shift"]
    assert any(r.startswith("FAIL: 1 of 4 consumer-type categories") for r in decision.reasons)
    lenient = fc.GatePolicy(baseline_margin=0.02, significance=0.05, category_tolerance=10.0)
    assert _gate(test_rows, candidate, champion, lenient).passed


def test_without_a_champion_the_margin_over_the_better_baseline_decides(
    test_rows: pl.DataFrame,
) -> None:
    good = _gate(test_rows, _noisy(test_rows, seed=3, noise=0.02, shared=0.015), None)
    assert good.passed and good.decided_by == "baseline_margin"
    rows = fc.comparable_rows(test_rows)
    wapes = {
        name: float(
            (rows.get_column(column) - rows.get_column(LABEL)).abs().sum()
            / rows.get_column(LABEL).abs().sum()
        )
        for name, column in fc.BASELINES.items()
    }
    best = min(wapes, key=wapes.__getitem__)
    assert good.best_baseline == best  # the best of the three baselines on this window
    assert good.test.against == best and good.test.p_value < 0.05
    assert "no champion yet" in good.reasons[-1] and "for information" in good.reasons[-1]
    assert good.comparison.get_column("forecaster").to_list() == ["candidate", *fc.BASELINES]
    assert good.categories.is_empty()
    # The best baseline's own values are within its margin: refused.
    naive = test_rows.get_column(fc.BASELINES[best]).to_numpy().astype(float)
    copy = _gate(test_rows, naive, None)
    assert not copy.passed and copy.reasons[0].startswith("FAIL: candidate WAPE")


def test_data_version_follows_the_content_not_the_memory_layout(tmp_path: Path) -> None:
    """The same rows hash the same whatever their order, chunks, string buffers or the value
    polars leaves under a null; any change of a value, a null or a string changes it."""
    rng = np.random.default_rng(3)
    n = 250_000  # more than two hashing slices
    frame = pl.DataFrame(
        {
            ENTITY: [f"DK{1 + i % 2}-{i % 97}" for i in range(n)],
            TIMESTAMP: pl.datetime_range(
                datetime(2025, 1, 1, tzinfo=UTC),
                datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=n - 1),
                "1h",
                time_unit="us",
                eager=True,
            ),
            "value": rng.normal(size=n),
        }
    ).with_columns(
        # a null whose slot keeps the value it replaced
        pl.when(pl.col("value") > 1.0).then(None).otherwise(pl.col("value")).alias("value")
    )
    path = tmp_path / "frame.parquet"
    frame.write_parquet(path, row_group_size=30_000)
    read_back = pl.read_parquet(path)
    assert read_back.n_chunks() > 1
    version = fc.data_version(frame)
    assert fc.data_version(read_back) == version
    assert fc.data_version(read_back.rechunk()) == version
    assert fc.data_version(frame.sample(fraction=1.0, shuffle=True, seed=1)) == version
    assert fc.data_version(frame.with_columns(pl.col("value").fill_null(0.0))) != version
    changed_text = frame.with_columns(pl.col(ENTITY).str.replace("DK1-1$", "DK1-10"))
    assert fc.data_version(changed_text) != version
    assert fc.data_version(frame.head(n - 1)) != version
