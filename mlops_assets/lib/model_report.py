"""What a person reads about a trained model: plots (learning curve, importance, forecast vs.
actual, error by segment) and the model card. matplotlib is imported inside the functions."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import polars.selectors as cs

from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.forecasting import BoosterParams, Evaluation, GateDecision
from mlops_assets.lib.markdown import markdown_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float = 8.0, height: float = 3.6) -> Figure:
    # The object API, not pyplot: no global state, safe in any thread or process.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def learning_curve(curve: Mapping[str, Sequence[float]], best_iteration: int) -> Figure:
    figure = _figure()
    ax = figure.subplots()
    for name, values in curve.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.axvline(best_iteration + 1, color="grey", linestyle="--", label="best round")
    ax.set(
        xlabel="boosting round",
        ylabel="MAE (relative to level)",
        title="Learning curve (rounds chosen here; the model is refit on train + validation)",
    )
    ax.legend()
    return figure


def importance(table: pl.DataFrame) -> Figure:
    figure = _figure(height=4.5)
    ax = figure.subplots()
    top = table.head(15).reverse()
    ax.barh(top.get_column("feature").to_list(), top.get_column("gain_share").to_list())
    ax.set(xlabel="share of total gain", title="Feature importance")
    return figure


def forecast_vs_actual(test: pl.DataFrame, columns: Mapping[str, str]) -> Figure:
    """Hourly total over all segments on the test window: actual and each forecaster."""
    totals = (
        test.group_by(TIMESTAMP)
        .agg(pl.col(LABEL).sum(), *[pl.col(c).sum().alias(n) for n, c in columns.items()])
        .sort(TIMESTAMP)
    )
    figure = _figure()
    ax = figure.subplots()
    hours = totals.get_column(TIMESTAMP).to_list()
    ax.plot(hours, (totals.get_column(LABEL) / 1e6).to_list(), color="black", label="actual")
    for name in columns:
        ax.plot(hours, (totals.get_column(name) / 1e6).to_list(), label=name, alpha=0.8)
    ax.set(ylabel="GWh per hour, all segments", title="Forecast vs. actual on the test window")
    ax.legend()
    figure.autofmt_xdate()
    return figure


def error_by_segment(candidate: Evaluation, baseline: Evaluation, top: int = 25) -> Figure:
    joined = (
        candidate.per_segment.select(ENTITY, pl.col("wape").alias("candidate"))
        .join(baseline.per_segment.select(ENTITY, pl.col("wape").alias("baseline")), on=ENTITY)
        .sort("candidate", descending=True)
        .head(top)
        .reverse()
    )
    figure = _figure(height=max(3.0, 0.2 * joined.height + 1))
    ax = figure.subplots()
    y = range(joined.height)
    ax.barh([i + 0.2 for i in y], joined.get_column("baseline").to_list(), 0.4, label=baseline.name)
    ax.barh([i - 0.2 for i in y], joined.get_column("candidate").to_list(), 0.4, label="candidate")
    ax.set_yticks(list(y), joined.get_column(ENTITY).to_list(), fontsize=7)
    ax.set(xlabel="WAPE %", title=f"Error by segment (worst {joined.height})")
    ax.legend()
    return figure


def rounded(table: pl.DataFrame, digits: int = 4) -> pl.DataFrame:
    """Floats cut to `digits` decimals, for tables a person reads."""
    return table.with_columns(cs.float().round(digits))


def comparison_markdown(decision: GateDecision) -> str:
    """Every forecaster's test metrics and the paired test of the candidate against it."""
    # The candidate is not tested against itself: a dash, not "None".
    return markdown_table(
        rounded(decision.comparison).with_columns(
            pl.col("dm_statistic", "p_value").cast(pl.String).fill_null("-")
        )
    )


def gate_markdown(decision: GateDecision) -> str:
    """The gate as a person reads it: the comparison table, the paired test, the categories and
    the decision with its reasons."""
    test = decision.test
    basis = (
        "the paired test against the champion"
        if decision.champion_test
        else f"the WAPE margin over the best baseline ({decision.best_baseline}); the test "
        "against it is for information"
    )
    categories = (
        markdown_table(rounded(decision.categories, 3))
        if decision.categories.height
        else "no champion: categories are not compared"
    )
    return f"""{comparison_markdown(decision)}

`dm_statistic` and `p_value`: the Diebold-Mariano test of the candidate's daily WAPE against
that forecaster (negative favours the candidate; p one-sided, H1: the candidate is better).

**Decision: {"passed" if decision.passed else "failed"}**, decided by {basis}:
statistic {test.statistic:.3f}, p-value {test.p_value:.4f} over {test.days} days (one
forecast origin each, so horizon 1 and {test.lags} Newey-West lags), mean difference
{test.mean_difference:+.3f} WAPE points.

{chr(10).join(f"- {r}" for r in decision.reasons)}

WAPE per consumer-type category against the champion:

{categories}
"""


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def markdown_image(figure: Figure, alt: str) -> str:
    """An inline image the Dagster UI renders in markdown metadata."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png(figure)).decode()})"


def candidates_markdown(candidates: pl.DataFrame) -> str:
    """Every model family of a candidate run, scored on the validation days; the chosen row
    is the one registered."""
    return markdown_table(rounded(candidates, 3))


def model_card(
    *,
    model_name: str,
    version: str | None,
    owner: str,
    tags: Mapping[str, str],
    window: tuple[Any, Any],
    split_windows: Mapping[str, tuple[Any, Any]],
    rows: Mapping[str, int],
    params: BoosterParams,
    seed: int,
    family: str,
    candidates: pl.DataFrame,
    best_iteration: int,
    fit_rows: int,
    trials: int,
    search_stopped_by: str,
    search_space: Mapping[str, Sequence[Any]],
    decision: GateDecision,
    per_horizon: pl.DataFrame,
    training_set_path: str,
    data_version: str,
) -> str:
    """The model card: what the model is, on which data, how it was trained and how it scored."""
    space = "\n".join(f"  - `{k}`: {list(v)}" for k, v in search_space.items())
    parts = "\n".join(
        f"| {name} | {start} | {end} | {rows.get(name, 0):,} |"
        for name, (start, end) in split_windows.items()
    )
    return f"""# Model card: {model_name}{f" v{version}" if version else ""}

**What it is.** A `{family}` forecaster of each segment's hourly electricity consumption
(kWh) for the 24 hours of the next UTC day, from features known at 00:00 UTC (consumption at
or before t - 24 h, calendar, Danish holidays, the newest temperature forecast issued by
00:00 UTC for the target hour). It was the best of the model families below on the validation
window; the learned families predict consumption relative to the segment's recent level and
scoring multiplies back.

**How and when it forecasts.** The forecast for day D is issued at its origin, D 00:00 UTC,
as soon as D-1's consumption and D's weather forecast are staged (`batch_predictions`
partition D), before any hour of D happens. Every row carries its origin, issue time and this
model's version. It is scored once D's actuals land (`prediction_performance`); days inside the
training window above are marked `in_sample` and never count toward retraining.

**Owner:** {owner}  ·  **Tags:** {", ".join(f"{k}={v}" for k, v in sorted(tags.items()))}

## Data
- Training set: `{training_set_path}` (data version `{data_version}`), target hours
  {window[0]} .. {window[1]}, from the Feast feature view `consumption_features`.
- Split in time order, nothing shuffled:

| part | from | until | rows |
|---|---|---|---|
{parts}

## Training
- Model families, fitted on the training days and compared on the validation days (WAPE); the
  chosen one is refit on train + validation:

{candidates_markdown(candidates)}

- Search (XGBoost): {trials} trial(s) of time-series cross-validation ({search_stopped_by}); with no
  trial the defaults below are used. Space:
{space}
- XGBoost hyperparameters: `{params.as_dict()}`; seed {seed}; {best_iteration + 1} rounds,
  chosen by early stopping on validation MAE. The registered model is refit on train +
  validation ({fit_rows:,} rows), so it has seen the newest days before the test window.

## Test metrics and the gate (held-out window, rows every forecaster can score)
WAPE = sum |forecast - actual| / sum |actual| (%): one scale-free figure for segments of every
size, and the one the gate decides on.

{gate_markdown(decision)}
## Error by horizon hour
{markdown_table(rounded(per_horizon.select("horizon_hour", "wape", "mae", "mape", "rows"), 3))}

## Use
Load with `Registry.load_forecaster(version)` (XGBoost UBJ or JSON coefficients, never pickle)
and score with its `predict(features)`, which applies the same design as training.
"""
