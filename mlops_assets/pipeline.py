"""The main job: the whole graph over a history, in the order the days happen, in one process.

Assets live on two calendars (actuals up to yesterday, forecasts up to today), and Dagster runs
each calendar's assets in their own runs, so the main job is a fixed sequence of the lifecycle
jobs. It ends with an honest score: the model trains on the history before the last
`holdout_days` days, then forecasts those days out of sample, each from its own origin, and is
scored against their actuals next to the naive baselines. It also issues the forecast for the day
after the history (today, by default), before any of its hours happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.predictions.assets import PREDICTIONS_TABLE
from mlops_assets.lib import scoring
from mlops_assets.lib import warehouse as staged
from mlops_assets.lib.features import ENTITY, LABEL, TIMESTAMP
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.validation import day_window

# A week before the first row with a same-hour-last-week lag, then 7 days to train, 7 validation
# days (the families are compared on a whole week) and the gate's 7-day test window.
MIN_TRAINING_DAYS = 7 + 7 + 7 + 7
HOLDOUT_DAYS = 7


@dataclass(frozen=True)
class Plan:
    """Which days each stage covers for a history of actuals [first, last]."""

    first: date
    last: date
    holdout_days: int = HOLDOUT_DAYS

    def __post_init__(self) -> None:
        if self.holdout_days < 1:
            raise ValueError(f"holdout_days must be at least 1, got {self.holdout_days}")
        if self.training_days < MIN_TRAINING_DAYS:
            raise ValueError(
                f"{self.first} .. {self.last} leaves {self.training_days} day(s) for the "
                f"training set before the {self.holdout_days} held-out day(s); it needs at least "
                f"{MIN_TRAINING_DAYS} (a week of lag history, 7 days to train, 7 validation "
                f"days, the gate's 7-day test window) after the first day, whose forecast has no "
                f"day before it. Use at least {MIN_TRAINING_DAYS + self.holdout_days + 1} days."
            )

    @property
    def holdout(self) -> tuple[date, date]:
        """The days forecast and scored out of sample: the last `holdout_days` of the history."""
        return self.last - timedelta(days=self.holdout_days - 1), self.last

    @property
    def training_end(self) -> date:
        """The first day the training set leaves out (exclusive end of its window)."""
        return self.holdout[0]

    @property
    def first_forecast_day(self) -> date:
        """The first day with a day before it in the history: features need D-1 staged."""
        return self.first + timedelta(days=1)

    @property
    def training_days(self) -> int:
        return (self.training_end - self.first_forecast_day).days

    @property
    def next_day(self) -> date:
        """The day after the history: its forecast is issued before any of its hours happen."""
        return self.last + timedelta(days=1)


@dataclass(frozen=True)
class Step:
    """One run of the sequence."""

    name: str
    job: str
    days: tuple[date, date] | None
    assets: Sequence[str] | None = None  # a subset of the job; None runs all of it
    run_config: dict[str, Any] | None = None


def steps(plan: Plan) -> list[Step]:
    """The runs of the main job, upstream first."""
    hold_first, hold_last = plan.holdout
    return [
        Step("Feast registry", "training_data_job", None, ["feature_registry"]),
        Step("actuals: ingest and stage", "ingestion_job", (plan.first, plan.last)),
        Step(
            "features known at each origin, online store",
            "feature_job",
            (plan.first_forecast_day, plan.next_day),
        ),
        Step(
            f"train on {plan.first_forecast_day} .. {plan.training_end - timedelta(days=1)}, "
            "gate, promote",
            "training_job",
            None,
            run_config={
                "ops": {
                    "training_set": {
                        "config": {
                            "days": 0,  # every day the history has before the held-out days
                            "end_date": plan.training_end.isoformat(),
                        }
                    }
                }
            },
        ),
        Step(
            "forecasts issued at each origin, drift",
            "forecast_job",
            (hold_first, plan.next_day),
            ["batch_predictions", "drift_report"],
        ),
        Step(
            "realised performance, out of sample",
            "daily_job",
            (hold_first, hold_last),
            ["prediction_performance"],
        ),
    ]


@dataclass(frozen=True)
class StepResult:
    step: Step
    run_id: str
    success: bool
    seconds: float


def run_main_job(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: Plan,
    *,
    tags: dict[str, str] | None = None,
    log_level: str = "INFO",
    on_step: Callable[[int, int, Step], None] = lambda i, n, step: None,
) -> list[StepResult]:
    """Run every step in order; stop at the first that fails."""
    import time

    todo = steps(plan)
    results = []
    for i, step in enumerate(todo, 1):
        on_step(i, len(todo), step)
        job = definitions.resolve_job_def(step.job)
        run_tags = dict(tags or {})
        if step.days is not None:
            run_tags["dagster/asset_partition_range_start"] = step.days[0].isoformat()
            run_tags["dagster/asset_partition_range_end"] = step.days[1].isoformat()
        run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        run_config.update(step.run_config or {})
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance,
            tags=run_tags,
            run_config=run_config,
            asset_selection=[dg.AssetKey(a) for a in step.assets] if step.assets else None,
            raise_on_error=False,
        )
        results.append(StepResult(step, result.run_id, result.success, time.monotonic() - started))
        if not result.success:
            break
    return results


def out_of_sample_scores(lake_dir: Path, warehouse: Path, plan: Plan) -> pl.DataFrame:
    """WAPE, MAPE and MAE of every forecaster over the held-out days, pooled: one row each."""
    first, last = plan.holdout
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    predictions = Lake(lake_dir).read(PREDICTIONS_TABLE, days)
    if predictions is None:
        raise ValueError(f"no batch predictions in {lake_dir} for {first} .. {last}")
    actuals = staged.read_window(
        warehouse,
        staged.STAGED_CONSUMPTION,
        day_window(first)[0],
        day_window(last)[1],
        ["segment_id", "hour_utc", LABEL],
    ).select(
        pl.col("segment_id").alias(ENTITY),
        pl.col("hour_utc").dt.replace_time_zone("UTC").alias(TIMESTAMP),
        pl.col(LABEL),
    )
    joined = predictions.join(actuals, on=[ENTITY, TIMESTAMP], how="inner").filter(
        pl.col(scoring.PREDICTION).is_not_null() & pl.col(LABEL).is_not_null()
    )
    error = (pl.col(scoring.PREDICTION) - pl.col(LABEL)).abs()
    return (
        joined.group_by(scoring.ROLE)
        .agg(
            (error.sum() / pl.col(LABEL).abs().sum() * 100).alias("wape_%"),
            (error / pl.col(LABEL).abs())
            .filter(pl.col(LABEL) != 0)
            .mean()
            .mul(100)
            .alias("mape_%"),
            error.mean().alias("mae_kwh"),
            pl.len().alias("hours"),
            pl.col(scoring.VERSION).first().alias("version"),
        )
        .sort("wape_%")
        .rename({scoring.ROLE: "forecaster"})
    )
