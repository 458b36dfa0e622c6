"""What a person reads about a trained model: plots (learning curve, importance, forecast vs.
actual, error by segment) and the model card. matplotlib is imported inside the functions."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

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
    ax.set(xlabel="boosting round", ylabel="MAE (relative to level)", title="Learning curve")
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
        candidate.per_segment.select(ENTITY, pl.col("mape").alias("candidate"))
        .join(baseline.per_segment.select(ENTITY, pl.col("mape").alias("baseline")), on=ENTITY)
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
    ax.set(xlabel="MAPE %", title=f"Error by segment (worst {joined.height})")
    ax.legend()
    return figure


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def markdown_image(figure: Figure, alt: str) -> str:
    """An inline image the Dagster UI renders in markdown metadata."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png(figure)).decode()})"


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
    best_iteration: int,
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

**What it is.** An XGBoost regressor forecasting each segment's hourly electricity consumption
(kWh) for the 24 hours of the next UTC day, from features known at 00:00 UTC (consumption at
or before t - 24 h, calendar, Danish holidays, temperature at the target hour). The booster
predicts consumption relative to the segment's recent level; scoring multiplies back.

**Owner:** {owner}  ·  **Tags:** {", ".join(f"{k}={v}" for k, v in sorted(tags.items()))}

## Data
- Training set: `{training_set_path}` (data version `{data_version}`), target hours
  {window[0]} .. {window[1]}, from the Feast feature view `consumption_features`.
- Split in time order, nothing shuffled:

| part | from | until | rows |
|---|---|---|---|
{parts}

## Training
- Search: {trials} trial(s) of time-series cross-validation ({search_stopped_by}); with no
  trial the defaults below are used. Space:
{space}
- Chosen hyperparameters: `{params.as_dict()}`; seed {seed}; best round {best_iteration + 1}
  (early stopping on validation MAE).

## Test metrics (held-out window, rows every forecaster can score)
{markdown_table(decision.comparison)}

Gate: {"**passed**" if decision.passed else "**failed**"}.
{chr(10).join(f"- {r}" for r in decision.reasons)}

## Error by horizon hour
{markdown_table(per_horizon.select("horizon_hour", "mae", "mape", "rows"))}

## Use
Load with `Registry.load_booster(version)` (XGBoost UBJ, never pickle) and score with
`mlops_assets.lib.forecasting.predict`, which applies the same design matrix.
"""
