"""A rolling-origin backtest: over the last N weeks of a labelled feature frame, each week is
forecast by a model trained only on the days before it and scored next to the naive baselines
on the same rows. Pure: a bench script can run it on generated data without Dagster or a lake.

The frame has the training set's shape (segment, target hour, features known at the origin, the
label), so every forecast in it is already issued at its day's 00:00 UTC origin.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import polars.selectors as cs

from mlops_assets.lib import families
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import ENTITY, TIMESTAMP
from mlops_assets.lib.markdown import markdown_table
from mlops_assets.lib.training import CODE_VERSION, TrainingConfig, git_commit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mlops_assets.lib.registry import Registry

MODEL = "model"
FORECASTERS = (MODEL, *fc.BASELINES)
WEEK = "week"
WEEK_DAYS = 7  # one test block: every weekday once, as the gate's minimum test window
METRICS = ("wape", "mape", "mae")  # WAPE leads, as in the gate
RATIO = "model_wape_ratio"  # the model's WAPE over this forecaster's: below 1, the model wins
WINDOW_COLUMNS = ("train_start", "train_end", "test_start", "test_end")
RUN_TYPE_TAG = "run_type"


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest measured. Every table row carries the windows it came from: inclusive
    UTC days; pooled rows span all test weeks and end training at the newest model's last day."""

    weeks: int
    refit_every: int  # weeks between refits; 0: one model, trained before the first test week
    segments: int
    windows: pl.DataFrame  # per week: the model's training window, test week, rows, rounds
    by_week: pl.DataFrame
    by_horizon: pl.DataFrame
    by_category: pl.DataFrame
    overall: pl.DataFrame
    params: fc.BoosterParams
    config: TrainingConfig
    data_version: str
    seconds: float
    fits: int = 0

    @property
    def test_window(self) -> tuple[date, date]:
        return self.windows.item(0, "test_start"), self.windows.item(-1, "test_end")

    @property
    def train_start(self) -> date:
        return self.windows.get_column("train_start").min()  # type: ignore[return-value]

    def wape(self, forecaster: str) -> float:
        return float(self.overall.filter(pl.col("forecaster") == forecaster).item(0, "wape"))

    def describe_refit(self) -> str:
        if self.refit_every == 0:
            return "one model trained before the first test week"
        if self.refit_every == 1:
            return "refit every week on all days before it"
        return f"refit every {self.refit_every} weeks on all days before"


def rolling_origin(
    frame: pl.DataFrame,
    weeks: int,
    config: TrainingConfig | None = None,
    refit_every: int = 1,
    log: Callable[[str], None] = lambda _: None,
) -> BacktestResult:
    """Forecast each of the last `weeks` 7-day blocks (ending at the frame's last day) with a model
    trained on the days before its refit week (`config`'s validation days choose the rounds, then
    train + validation is refit; `test_days` is unused), and score it with every baseline."""
    if weeks < 1:
        raise ValueError(f"weeks={weeks}: a backtest needs at least one test week")
    if refit_every < 0:
        raise ValueError(f"refit_every={refit_every}: weeks between refits, or 0 for one model")
    config = config or TrainingConfig()
    started = time.perf_counter()
    rows = fc.labelled(frame)
    if rows.is_empty():
        raise ValueError("the frame has no labelled rows with a level: nothing to backtest")
    last_day = rows.get_column(TIMESTAMP).dt.convert_time_zone("UTC").max().date()  # type: ignore[union-attr]
    end = datetime.combine(last_day, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    first_test = end - timedelta(days=WEEK_DAYS * weeks)
    forecaster: families.Forecaster | None = None
    params, fits = fc.BoosterParams(), 0
    model_window: dict[str, Any] = {}
    windows, scored = [], []
    for week in range(1, weeks + 1):
        test_start = first_test + timedelta(days=WEEK_DAYS * (week - 1))
        split = _split(rows, test_start, config.validation_days, week)
        refit = week == 1 or (refit_every > 0 and (week - 1) % refit_every == 0)
        seconds = 0.0
        if refit or forecaster is None:
            params, forecaster, model_window, seconds = _train(split, config)
            fits += 1
            log(
                f"week {week}: trained on {model_window['train_start']} .. "
                f"{model_window['train_end']} ({model_window['fit_rows']:,} rows), chose "
                f"{model_window['family']} ({model_window['validation_wapes']}) in {seconds:.1f}s"
            )
        comparable = fc.comparable_rows(
            split.test.with_columns(
                pl.Series(MODEL, forecaster.predict(split.test), dtype=pl.Float64),
                pl.lit(week).alias(WEEK),
            )
        )
        scored.append(comparable)
        windows.append(
            {
                WEEK: week,
                **model_window,
                "test_start": test_start.date(),
                "test_end": (test_start + timedelta(days=WEEK_DAYS - 1)).date(),
                "test_rows": comparable.height,
                "refit": refit,
                "fit_seconds": round(seconds, 2),
            }
        )
    all_rows = pl.concat(scored, how="vertical_relaxed")
    window_table = pl.DataFrame(windows)
    by_week, by_horizon, by_category, overall = _tables(all_rows, window_table)
    return BacktestResult(
        weeks=weeks,
        refit_every=refit_every,
        segments=rows.get_column(ENTITY).n_unique(),
        windows=window_table,
        by_week=by_week,
        by_horizon=by_horizon,
        by_category=by_category,
        overall=overall,
        params=params,
        config=config,
        data_version=fc.data_version(frame),
        seconds=time.perf_counter() - started,
        fits=fits,
    )


def _split(rows: pl.DataFrame, test_start: datetime, validation_days: int, week: int) -> fc.Split:
    """The history before `test_start` and the test week, cut by forecasting's own split."""
    upto = rows.filter(pl.col(TIMESTAMP) < test_start + timedelta(days=WEEK_DAYS))
    try:
        split = fc.time_split(upto, validation_days, WEEK_DAYS)
    except ValueError as error:
        raise ValueError(
            f"test week {week} (from {test_start:%Y-%m-%d}): {error}; backtest fewer weeks or "
            "read more history before the first test week"
        ) from error
    if split.test_start != test_start:
        newest = split.test_start + timedelta(days=WEEK_DAYS - 1)
        raise ValueError(
            f"test week {week} (from {test_start:%Y-%m-%d}) has no labelled rows on its last day "
            f"(the newest before it is on {newest:%Y-%m-%d}): the frame has a gap; rebuild the "
            "missing days or backtest fewer weeks"
        )
    return split


def _train(
    split: fc.Split, config: TrainingConfig
) -> tuple[fc.BoosterParams, families.Forecaster, dict[str, Any], float]:
    """Search (if asked) and fit as a production training would: every family fitted on the
    training days, the best on validation kept and refit on train + validation."""
    started = time.perf_counter()
    search = fc.search(split.train, config.search_trials, config.search_time_limit_s, config.seed)
    params = search.best.params if search.best else fc.BoosterParams()
    selection = families.select(
        split, params, config.seed, config.families, max_rows=config.max_training_rows
    )
    wapes = ", ".join(
        f"{c.family} {c.validation.overall['wape']:.2f} %" for c in selection.candidates
    )
    train_first, _ = split.window("train")
    _, validation_end = split.window("validation")
    window = {
        "train_start": train_first.date(),
        "train_end": (validation_end - timedelta(hours=1)).date(),
        "validation_start": split.validation_start.date(),
        "fit_rows": selection.rows,
        "family": selection.chosen,
        "validation_wapes": wapes,
        "rounds": selection.fit.rounds if selection.fit else 0,
    }
    return params, selection.forecaster, window, time.perf_counter() - started


# Which table of an Evaluation holds the metrics grouped by each key.
_GROUPED: dict[tuple[str, ...], Callable[[fc.Evaluation], pl.DataFrame]] = {
    (): lambda e: pl.DataFrame([e.overall]),
    (fc.HORIZON,): lambda e: e.per_horizon,
    (fc.CATEGORY,): lambda e: e.per_category,
}


def _metrics(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """WAPE, MAPE and MAE of every forecaster per group, through forecasting's own evaluation."""
    parts = []
    for name in FORECASTERS:
        column = MODEL if name == MODEL else fc.BASELINES[name]
        table = _GROUPED[tuple(by)](fc.evaluate(rows, column, name))
        parts.append(
            table.select(
                *by, pl.lit(name).alias("forecaster"), *METRICS, pl.col("rows").cast(pl.Int64)
            )
        )
    return _with_ratio(pl.concat(parts, how="vertical_relaxed"), by)


def _with_ratio(table: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    model = table.filter(pl.col("forecaster") == MODEL).select(
        *by, pl.col("wape").alias("__model_wape")
    )
    joined = table.join(model, on=by, how="left") if by else table.join(model, how="cross")
    return joined.with_columns((pl.col("__model_wape") / pl.col("wape")).alias(RATIO)).drop(
        "__model_wape"
    )


def _tables(
    rows: pl.DataFrame, windows: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    order = {name: i for i, name in enumerate(FORECASTERS)}
    by_week = pl.concat(
        [
            _metrics(rows.filter(pl.col(WEEK) == week), []).with_columns(pl.lit(week).alias(WEEK))
            for week in windows.get_column(WEEK).to_list()
        ]
    ).join(windows.select(WEEK, *WINDOW_COLUMNS), on=WEEK)
    pooled = {
        "train_start": windows.get_column("train_start").min(),
        "train_end": windows.get_column("train_end").max(),
        "test_start": windows.get_column("test_start").min(),
        "test_end": windows.get_column("test_end").max(),
    }

    def tidy(table: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        table = table.with_columns(
            *[pl.lit(v).alias(k) for k, v in pooled.items() if k not in table.columns]
        )
        return table.select(*keys, "forecaster", *METRICS, "rows", RATIO, *WINDOW_COLUMNS).sort(
            *keys, pl.col("forecaster").replace_strict(order, return_dtype=pl.Int64)
        )

    return (
        tidy(by_week, [WEEK]),
        tidy(_metrics(rows, [fc.HORIZON]), [fc.HORIZON]),
        tidy(_metrics(rows, [fc.CATEGORY]), [fc.CATEGORY]),
        tidy(_metrics(rows, []), []),
    )


# ----------------------------------------------------------------------------------------------
# What a person reads


def wape_table(table: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """One row per key: each forecaster's WAPE (%) and the model's WAPE over each baseline's."""
    wide = table.pivot("forecaster", index=keys, values="wape").select(*keys, *FORECASTERS)
    return wide.with_columns(
        *[(pl.col(MODEL) / pl.col(name)).alias(f"{MODEL}/{name}") for name in fc.BASELINES]
    )


def markdown_tables(result: BacktestResult) -> dict[str, str]:
    """Overall, by week (with each week's windows) and by category: WAPE first, for people."""
    weeks = wape_table(result.by_week, [WEEK]).join(
        result.windows.select(
            WEEK,
            pl.format("{} .. {}", "test_start", "test_end").alias("test week"),
            pl.format("{} .. {}", "train_start", "train_end").alias("trained on"),
        ),
        on=WEEK,
    )
    weeks = weeks.select(WEEK, "test week", "trained on", *FORECASTERS, pl.col(r"^model/.*$"))
    return {
        "overall": markdown_table(_rounded(result.overall.drop(*WINDOW_COLUMNS))),
        "by_week": markdown_table(_rounded(weeks)),
        "by_category": markdown_table(_rounded(wape_table(result.by_category, [fc.CATEGORY]))),
    }


def headline(result: BacktestResult) -> str:
    first, last = result.test_window
    return (
        f"**Backtest of {result.weeks} week(s), {first} .. {last}, {result.segments} segments**: "
        f"{result.describe_refit()} (training from {result.train_start}, "
        f"{result.config.validation_days} validation days, seed {result.config.seed}). Each day "
        "is forecast from its 00:00 UTC origin and scored with the baselines on the same rows. "
        "WAPE in %; `model/x` below 1 means the model beats x."
    )


def summary_markdown(result: BacktestResult) -> str:
    """The headline and the tables of `markdown_tables`: what the run's summary.md holds."""
    tables = markdown_tables(result)
    return f"""{headline(result)}

Overall, pooled over the test weeks:

{tables["overall"]}

WAPE by week:

{tables["by_week"]}

WAPE by consumer-type category, pooled over the test weeks:

{tables["by_category"]}
"""


def _rounded(table: pl.DataFrame) -> pl.DataFrame:
    return table.with_columns(cs.float().round(3))


def plot(result: BacktestResult) -> Figure:
    """WAPE of the model and each baseline by test week, by horizon hour and by category."""
    # The object API, not pyplot: no global state, safe in any thread or process.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15.0, 4.2), dpi=100, layout="constrained")
    by_week, by_hour, by_category = figure.subplots(1, 3, width_ratios=[1.0, 1.0, 0.8])
    weeks = wape_table(result.by_week, [WEEK]).join(
        result.windows.select(WEEK, "test_start"), on=WEEK
    )
    hours = wape_table(result.by_horizon, [fc.HORIZON])
    categories = wape_table(result.by_category, [fc.CATEGORY]).reverse()
    labels = [f"{d:%m-%d}" for d in weeks.get_column("test_start").to_list()]
    bar = 0.8 / len(FORECASTERS)
    for i, name in enumerate(FORECASTERS):
        style = {"linewidth": 2.2, "color": "black"} if name == MODEL else {"alpha": 0.8}
        by_week.plot(labels, weeks.get_column(name).to_list(), marker="o", label=name, **style)
        by_hour.plot(
            hours.get_column(fc.HORIZON).to_list(), hours.get_column(name).to_list(), **style
        )
        by_category.barh(
            [row + (1 - i) * bar for row in range(categories.height)],
            categories.get_column(name).to_list(),
            bar,
            color="black" if name == MODEL else None,
            alpha=1.0 if name == MODEL else 0.8,
        )
    first, last = result.test_window
    by_week.set(
        xlabel="test week starting (UTC)",
        ylabel="WAPE %",
        title=f"By week, {first} .. {last}",
        ylim=(0, None),
    )
    by_hour.set(
        xlabel="horizon hour (UTC hour + 1)",
        ylabel="WAPE %",
        title=f"By horizon hour, pooled over {result.weeks} week(s)",
        ylim=(0, None),
    )
    by_category.set_yticks(
        list(range(categories.height)), categories.get_column(fc.CATEGORY).to_list(), fontsize=8
    )
    by_category.set(xlabel="WAPE %", title="By consumer-type category, pooled")
    by_week.legend()
    figure.suptitle(
        f"Backtest WAPE: {result.describe_refit()}, {result.segments} segments "
        f"(training from {result.train_start})"
    )
    return figure


# ----------------------------------------------------------------------------------------------
# Reading a window and logging a run


def read_window(end: date, weeks: int, history_days: int) -> tuple[datetime, datetime]:
    """Target hours [start, end) a backtest of `weeks` reads: the test weeks ending the day before
    `end` and `history_days` before them to train the first week's model on."""
    stop = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    return stop - timedelta(days=WEEK_DAYS * weeks + history_days), stop


def log_run(
    result: BacktestResult, registry: Registry, lineage: Mapping[str, str] | None = None
) -> str:
    """One MLflow run in the model's experiment (tagged run_type=backtest): params, overall
    metrics and ratios, weekly series, the tables, the plot and the summary. Returns its id."""
    first, last = result.test_window
    window = f"{result.train_start}..{last}"
    metrics = {
        **{
            f"{name}_{metric}": float(row[metric])
            for row in result.overall.to_dicts()
            for name in [row["forecaster"]]
            for metric in METRICS
        },
        **{
            f"{MODEL}_wape_ratio_to_{row['forecaster']}": float(row[RATIO])
            for row in result.overall.to_dicts()
            if row["forecaster"] != MODEL
        },
        "seconds": result.seconds,
        "fits": float(result.fits),
    }
    weekly = wape_table(result.by_week, [WEEK])
    series = {f"week_wape_{name}": weekly.get_column(name).to_list() for name in FORECASTERS}
    return registry.log_backtest(
        run_name=f"backtest {first}..{last}",
        params={
            "weeks": result.weeks,
            "refit_every_weeks": result.refit_every,
            "segments": result.segments,
            "window": window,
            "test_window": f"{first}..{last}",
            "validation_days": result.config.validation_days,
            "search_trials": result.config.search_trials,
            "seed": result.config.seed,
            **result.params.as_dict(),
        },
        metrics={k: v for k, v in metrics.items() if math.isfinite(v)},
        series=series,
        tags={
            **(lineage or {}),
            RUN_TYPE_TAG: "backtest",
            "window": window,
            "code_version": CODE_VERSION,
            "git_commit": git_commit(),
            "data_version": result.data_version,
        },
        tables={
            "windows": result.windows,
            "overall": result.overall,
            "by_week": result.by_week,
            "by_horizon": result.by_horizon,
            "by_category": result.by_category,
        },
        figures={"backtest": plot(result)},
        summary=summary_markdown(result),
    )
