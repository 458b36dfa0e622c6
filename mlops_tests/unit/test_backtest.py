"""The rolling-origin backtest on generated data, without Dagster: windows that never overlap,
baselines on the model's rows, the tables, determinism, and the run it logs to a real MLflow."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib import backtest as bt
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, TIMESTAMP
from mlops_assets.lib.model_report import png
from mlops_assets.lib.registry import Registry
from mlops_assets.lib.training import TrainingConfig
from mlops_tests.unit.test_forecasting import START, training_frame

DAYS = 35  # three weeks to train the first model on, two test weeks
WEEKS = 2
SEGMENTS = 6  # 3 consumer types in each of the two price areas
LAST_DAY = (START + timedelta(days=DAYS - 1)).date()
# One segment's same-hour-yesterday is unknown on the last day: no forecaster is scored there.
GAP_SEGMENT = "DK1"
CONFIG = TrainingConfig(seed=7)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    frame = training_frame(days=DAYS, n_consumer_types=SEGMENTS // 2)
    segments = frame.get_column(ENTITY).unique().sort().to_list()
    gap_segment = next(s for s in segments if s.startswith(GAP_SEGMENT))
    gap = (pl.col(ENTITY) == gap_segment) & (pl.col(TIMESTAMP).dt.date() == LAST_DAY)
    return frame.with_columns(pl.when(gap).then(None).otherwise(pl.col("lag_24h")).alias("lag_24h"))


@pytest.fixture(scope="module")
def weekly(frame: pl.DataFrame) -> bt.BacktestResult:
    return bt.rolling_origin(frame, WEEKS, CONFIG, refit_every=1)


def test_every_test_week_comes_after_the_window_its_model_was_trained_on(
    weekly: bt.BacktestResult,
) -> None:
    windows = weekly.windows.to_dicts()
    assert [w["week"] for w in windows] == [1, 2]
    assert windows[-1]["test_end"] == LAST_DAY
    for week in windows:
        assert week["test_end"] - week["test_start"] == timedelta(days=6)
        assert week["train_start"] <= week["validation_start"] <= week["train_end"]
        # Weekly refit: the model saw every day before its week and none of it.
        assert week["train_end"] == week["test_start"] - timedelta(days=1)
        assert week["refit"]
    assert windows[1]["test_start"] == windows[0]["test_end"] + timedelta(days=1)
    assert windows[1]["fit_rows"] > windows[0]["fit_rows"]  # the first test week trains the next
    # Every row of every table names windows in which training ends before testing starts.
    for table in (weekly.by_week, weekly.by_horizon, weekly.by_category, weekly.overall):
        assert table.select(pl.col(*bt.WINDOW_COLUMNS).is_null().any()).row(0) == (False,) * 4
    for row in weekly.by_week.to_dicts():
        assert row["train_end"] < row["test_start"]


def test_a_model_kept_for_weeks_was_trained_before_the_first_of_them(
    frame: pl.DataFrame,
) -> None:
    fixed = bt.rolling_origin(frame, WEEKS, CONFIG, refit_every=0)
    assert fixed.fits == 1
    assert fixed.windows.get_column("refit").to_list() == [True, False]
    first_test = fixed.windows.item(0, "test_start")
    assert fixed.windows.get_column("train_end").unique().to_list() == [
        first_test - timedelta(days=1)
    ]
    assert "one model" in fixed.describe_refit()


def test_the_baselines_are_scored_on_the_same_rows_as_the_model(
    weekly: bt.BacktestResult,
) -> None:
    full_week = 7 * 24 * SEGMENTS
    rows = weekly.by_week.pivot("forecaster", index="week", values="rows").sort("week")
    for name in bt.FORECASTERS:
        assert rows.get_column(name).to_list() == [full_week, full_week - 24], name
    assert weekly.windows.get_column("test_rows").to_list() == [full_week, full_week - 24]
    overall = dict(weekly.overall.select("forecaster", "rows").iter_rows())
    assert set(overall.values()) == {2 * full_week - 24}
    for table in (weekly.by_horizon, weekly.by_category):
        per_forecaster = table.group_by("forecaster").agg(pl.col("rows").sum())
        assert set(per_forecaster.get_column("rows").to_list()) == {2 * full_week - 24}


def test_the_tables_hold_weeks_horizon_hours_and_categories_with_wape_first(
    frame: pl.DataFrame, weekly: bt.BacktestResult
) -> None:
    forecasters = list(bt.FORECASTERS)
    assert forecasters == ["model", *fc.BASELINES]
    assert weekly.by_week.columns[:5] == ["week", "forecaster", "wape", "mape", "mae"]
    assert weekly.by_week.height == WEEKS * len(forecasters)
    assert weekly.by_horizon.get_column("horizon_hour").unique().sort().to_list() == list(
        range(1, 25)
    )
    categories = fc.with_category(frame).get_column(fc.CATEGORY).unique().sort().to_list()
    assert weekly.by_category.get_column("category").unique().sort().to_list() == categories
    assert weekly.by_category.height == len(categories) * len(forecasters)
    assert weekly.overall.get_column("forecaster").to_list() == forecasters
    # The ratio is the model's WAPE over each forecaster's, on the same row's group.
    week_two = weekly.by_week.filter(pl.col("week") == 2)
    model_wape = week_two.filter(pl.col("forecaster") == "model").item(0, "wape")
    for row in week_two.to_dicts():
        assert row[bt.RATIO] == pytest.approx(model_wape / row["wape"])


def test_the_model_beats_seasonal_naive_on_generated_data(weekly: bt.BacktestResult) -> None:
    assert weekly.wape("model") < weekly.wape("seasonal_naive")
    ratio = weekly.overall.filter(pl.col("forecaster") == "seasonal_naive").item(0, bt.RATIO)
    assert ratio < 0.95


def test_a_backtest_repeats_exactly(frame: pl.DataFrame, weekly: bt.BacktestResult) -> None:
    again = bt.rolling_origin(frame, WEEKS, CONFIG, refit_every=1)
    for name in ("by_week", "by_horizon", "by_category", "overall"):
        assert getattr(again, name).equals(getattr(weekly, name)), name
    assert again.windows.drop("fit_seconds").equals(weekly.windows.drop("fit_seconds"))
    assert again.data_version == weekly.data_version


def test_too_little_history_names_the_week_and_what_to_do(frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"test week 1 \(from .*\): .*backtest fewer weeks"):
        bt.rolling_origin(frame, 5, CONFIG)


def test_a_missing_day_that_would_shift_a_test_week_is_refused(frame: pl.DataFrame) -> None:
    missing = LAST_DAY - timedelta(days=7)  # the last day of the first test week
    holed = frame.filter(pl.col(TIMESTAMP).dt.date() != missing)
    with pytest.raises(ValueError, match=r"test week 1 .* no labelled rows on its last day"):
        bt.rolling_origin(holed, WEEKS, CONFIG)


def test_the_summary_and_plot_say_which_windows_they_show(weekly: bt.BacktestResult) -> None:
    summary = bt.summary_markdown(weekly)
    first, last = weekly.test_window
    assert f"**Backtest of 2 week(s), {first} .. {last}, {SEGMENTS} segments**" in summary
    assert "| week | test week | trained on | model | seasonal_naive |" in summary
    week = weekly.windows.row(1, named=True)
    assert (
        f"| 2 | {week['test_start']} .. {week['test_end']} | "
        f"{week['train_start']} .. {week['train_end']} |"
    ) in summary
    figure = bt.plot(weekly)
    assert [ax.get_title() for ax in figure.axes] == [
        f"By week, {first} .. {last}",
        "By horizon hour, pooled over 2 week(s)",
        "By consumer-type category, pooled",
    ]
    assert png(figure).startswith(b"\x89PNG")


def test_a_backtest_is_one_mlflow_run_with_its_tables_and_plot(
    weekly: bt.BacktestResult, tmp_path: Path
) -> None:
    registry = Registry(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=str(tmp_path / "artifacts"),
        experiment="backtests",
        model_name="forecaster",
    )
    run_id = bt.log_run(weekly, registry, lineage={"dagster_run_id": "test"})

    params, metrics, tags = registry.run_record(run_id)
    assert params["weeks"] == "2" and params["segments"] == str(SEGMENTS)
    first, last = weekly.test_window
    assert params["test_window"] == f"{first}..{last}"
    assert tags["run_type"] == "backtest" and tags["dagster_run_id"] == "test"
    assert metrics["model_wape"] == pytest.approx(weekly.wape("model"))
    assert metrics["model_wape_ratio_to_seasonal_naive"] == pytest.approx(
        weekly.wape("model") / weekly.wape("seasonal_naive")
    )
    client = registry.client()
    history = client.get_metric_history(run_id, "week_wape_model")
    assert [m.step for m in history] == [1, 2]
    files = {
        f.path for folder in ("tables", "plots") for f in client.list_artifacts(run_id, folder)
    } | {f.path for f in client.list_artifacts(run_id)}
    assert {
        "tables/by_week.csv",
        "tables/by_horizon.csv",
        "tables/by_category.csv",
        "tables/overall.json",
        "plots/backtest.png",
        "summary.md",
    } <= files
    local = Path(client.download_artifacts(run_id, "tables/by_week.csv", str(tmp_path)))
    logged = pl.read_csv(local, try_parse_dates=True)
    assert logged.get_column("wape").to_list() == weekly.by_week.get_column("wape").to_list()
    assert logged.get_column("test_start").dtype == pl.Date
    assert date.fromisoformat(str(logged.item(0, "test_start"))) == first
