"""Data drift between a reference and a current feature frame, computed with Evidently.

`drift_report` is the Evidently wrapper: numerical columns, one explicit method (the Wasserstein
distance normed by the reference std unless told otherwise), sampled sides, an optional HTML
report. evidently and pandas are imported inside it: `import evidently` alone takes ~6 s.

`like_for_like` prepares the daily monitoring comparison. Compared naively, one day of features
against weeks of training rows measures the weekday, not drift: a Monday's lag_24h is a Sunday,
a Tuesday's is a Monday, and pooled kWh are a distribution of segment sizes (10^4 apart). So:
- same day type: each current row is compared with reference rows of its local weekday
  (holidays count as Sundays) and hour, drawn in the current day's mix of weekdays and hours;
- relative to the level: every consumption column (lags, rolling statistics, the forecast) is
  divided by the segment's mean of the week before the cut-off (rolling_mean_168h), which takes
  out segment size and the season but not a sudden change of level; the level is not compared;
- ordinary days only: a row whose features read a holiday (its own day, its lags and weekly
  window back to 191 h, the hour two weeks back) has no like in a few weeks of reference, so
  such rows are left out on both sides, and a day with under half its rows left is skipped.
The pipeline scores these columns with Evidently's energy distance ("ed"), which keeps the
columns' own unit (a share of the level): one threshold means the same on every weekday, where
the normed Wasserstein distance divides by the reference's spread, several times wider on a
Monday than on a Tuesday. A level change reaches lag_24h and rolling_mean_24h on its first day
and lag_48h on its second, the week-old columns not at all, so a day retrains when two of the
eight columns drift (share 0.25). Threshold 0.068 lies between the highest second column of an
undrifted generated day (0.066 at 76 segments, 0.062 at 760, four 8-week windows) and the lowest
within two days of a +30 % shift of a third of the segments (0.070): `bench/drift.py --quality`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.lib.features import FEATURES, TIMESTAMP
from mlops_assets.lib.forecasting import PREDICTION, SCALED
from mlops_assets.lib.holidays import holiday_mask
from mlops_assets.lib.schema import DANISH_TZ

# The integer codes and flags (hour_of_day, day_of_week, month, is_weekend, is_holiday,
# consumer_type) are monitored as numerical too: the hour, weekday and month are ordinal, so a
# Wasserstein distance says how far their mix moved; for a 0/1 flag it is the change in its share
# over the reference std; consumer_type only moves when the segment set changes, which any
# statistic flags. Categorical columns would need a second method and threshold (Jensen-Shannon)
# in every result for no gain. price_area is a string and is fixed by the segment anyway.
DRIFT_COLUMNS: tuple[str, ...] = tuple(f.name for f in FEATURES if f.dtype.is_numeric())

# The daily monitoring defaults (settings.MonitoringPolicy), chosen on generated data.
DAILY_METHOD = "ed"
DAILY_COLUMN_THRESHOLD = 0.068
DAILY_SHARE_THRESHOLD = 0.25
# The segment's level: the mean of the 168 hours before the cut-off. Unlike the model's level
# (the same hour one and two weeks back) it is one number for the whole day and every weekday.
LEVEL = "rolling_mean_168h"
# What the daily report compares: the consumption features that move within a day of a change
# (yesterday's lags and windows, the week's windows, last week's hour and the two-week mean) and
# the forecast. The week-old copies (lag_336h, the *_last_week windows) and weekday_naive (a
# day-type mix of the lags already here) are left out: they would dilute the share of drifted
# columns with columns that cannot react for a week.
MONITORED: tuple[str, ...] = (
    "lag_24h",
    "lag_48h",
    "lag_168h",
    "same_hour_mean_2w",
    "rolling_mean_24h",
    "rolling_std_24h",
    "rolling_mean_168h",
    "rolling_std_168h",
    PREDICTION,
)
# Consumption quantities, compared relative to LEVEL; any other column is compared as it is.
RELATIVE_COLUMNS: tuple[str, ...] = (*SCALED, PREDICTION)
# Hours before a row's target hour that its features read: the hour itself (its day type), the
# lags (24, 48, 168, 336 h) and the windows back to 191 h, every 12 h so no local day is skipped
# even where summer time makes a day 23 hours long.
FEATURE_HOURS_BACK: tuple[int, ...] = (0, *range(24, 192, 12), 191, 336)
# Below this share of the day's rows with a like in the reference, the day is not compared.
MIN_DAY_SHARE = 0.5
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday/holiday")
_CELL = "_day_type_hour"


@dataclass(frozen=True)
class DriftResult:
    """Per-column drift scores and the share of drifted columns, flattened from a snapshot."""

    share_drifted: float
    n_drifted: int
    n_columns: int
    drifted_columns: list[str]
    scores: dict[str, float]
    method: str
    threshold: float
    reference_rows: int
    current_rows: int
    sampled: bool
    seconds: float
    # Requested columns without a single finite value on one side: Evidently cannot score them.
    not_compared: list[str]


@dataclass(frozen=True)
class Comparison:
    """Reference and current rows made comparable, the columns to compare and what was kept."""

    reference: pl.DataFrame
    current: pl.DataFrame
    columns: list[str]
    # Which reference rows, in words for the UI: day types, their shares and the row count.
    subset: str
    # Why nothing can be compared (every row reads a holiday, ...); None when there is something.
    skipped: str | None = None


def sample(frame: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    """`max_rows` rows drawn uniformly without replacement, in their original order."""
    if frame.height <= max_rows:
        return frame
    # numpy's seeded Generator keeps the draw identical across polars versions and thread counts.
    rows = np.sort(np.random.default_rng(seed).choice(frame.height, max_rows, replace=False))
    return frame[rows]


def drift_report(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    max_rows: int = 100_000,
    method: str = "wasserstein",
    threshold: float = 0.1,
    seed: int = 0,
    html_path: Path | None = None,
) -> DriftResult:
    """Drift of `columns` (default DRIFT_COLUMNS, plus the prediction if both frames have it).

    Writes Evidently's self-contained HTML report to `html_path` when one is given.
    """
    started = time.perf_counter()
    for side, frame in (("reference", reference), ("current", current)):
        if frame.height == 0:
            raise ValueError(f"The {side} frame is empty (0 rows); drift needs rows on both sides.")
    columns = list(columns) if columns is not None else _default_columns(reference, current)
    _require_numeric(reference, "reference", columns)
    _require_numeric(current, "current", columns)

    # Evidently's cost grows with rows: its default preset took 77 s on 1M rows x the 18 monitored
    # columns per side (147 s on 20 float columns); 100k sampled rows per side flagged the same
    # columns in 7 s (bench/drift.py).
    ref = sample(reference.select(columns), max_rows, seed)
    cur = sample(current.select(columns), max_rows, seed)
    not_compared = [c for c in columns if not (_has_values(ref, c) and _has_values(cur, c))]
    compared = [c for c in columns if c not in not_compared]
    if not compared:
        raise ValueError(
            f"None of the columns {columns} has a finite value on both sides; nothing to compare."
        )
    snapshot = _run_report(ref.select(compared), cur.select(compared), method, threshold, html_path)
    scores, drifted = _column_results(snapshot)
    return DriftResult(
        share_drifted=len(drifted) / len(compared),
        n_drifted=len(drifted),
        n_columns=len(compared),
        drifted_columns=[c for c in compared if c in drifted],
        scores={c: scores[c] for c in compared},
        method=method,
        threshold=threshold,
        reference_rows=ref.height,
        current_rows=cur.height,
        sampled=ref.height < reference.height or cur.height < current.height,
        seconds=time.perf_counter() - started,
        not_compared=not_compared,
    )


@dataclass(frozen=True)
class PreparedReference:
    """The reference made comparable once for any number of days: its ordinary-day rows with a
    level, consumption over the level, grouped by cell (day type, hour)."""

    columns: list[str]  # as asked, the level included
    compared: list[str]  # what is compared: the columns without the level
    pools: dict[int, pl.DataFrame]  # each cell's rows, in the reference's order


def prepare_reference(reference: pl.DataFrame, columns: Sequence[str]) -> PreparedReference:
    """The like-for-like side of the reference: the part of `like_for_like` that does not depend
    on the day, so a range of days pays for it once."""
    _require_like_for_like(reference, "reference", columns)
    compared = [c for c in columns if c != LEVEL]
    ref = _comparable(reference, compared)
    pools = {
        int(key[0]): pool  # type: ignore[call-overload]
        for key, pool in ref.partition_by(_CELL, as_dict=True, maintain_order=True).items()
    }
    return PreparedReference(columns=list(columns), compared=compared, pools=pools)


def like_for_like(
    reference: pl.DataFrame, current: pl.DataFrame, columns: Sequence[str], *, seed: int = 0
) -> Comparison:
    """Rows of the same day type and hour on ordinary days, consumption relative to the level."""
    return compare(prepare_reference(reference, columns), current, seed=seed)


def compare(prepared: PreparedReference, current: pl.DataFrame, *, seed: int = 0) -> Comparison:
    """`like_for_like` of one day's rows against a reference prepared once."""
    _require_like_for_like(current, "current", prepared.columns)
    compared = prepared.compared
    cur = _comparable(current, compared)
    cells = dict(cur.group_by(_CELL, maintain_order=True).len().iter_rows())
    # A cell (day type, hour) the reference lacks cannot be compared; nor can a day made mostly
    # of holiday-reading rows, whose few remaining hours would stand for the whole day.
    cur = cur.filter(pl.col(_CELL).is_in([c for c in cells if c in prepared.pools]))
    if cur.height < MIN_DAY_SHARE * current.height:
        holiday = int(reads_holiday(current).sum())
        return _skipped(
            compared,
            f"{holiday:,} of the day's {current.height:,} rows read a holiday in their feature "
            f"windows and {current.height - holiday - cur.height:,} more have no like (day "
            f"type, hour, a {LEVEL} > 0) in the reference: under {MIN_DAY_SHARE:.0%} left",
        )
    pools = prepared.pools
    # In the order of the day's rows, so the matched reference is the same frame on every run.
    cells = dict(cur.group_by(_CELL, maintain_order=True).len().iter_rows())
    # The most reference rows that keep the current day's mix of day types and hours.
    total = min(pools[c].height * cur.height / n for c, n in cells.items())
    matched = pl.concat(
        sample(pools[c], max(1, int(total * n / cur.height)), seed) for c, n in cells.items()
    )
    types = (
        cur.group_by(pl.col(_CELL) // 24, maintain_order=True)
        .len()
        .sort("len", descending=True, maintain_order=True)
        .rows()
    )
    mix = " + ".join(f"{DAY_NAMES[k]} {n / cur.height:.0%}" for k, n in types)
    return Comparison(
        reference=matched.drop(_CELL),
        current=cur.drop(_CELL),
        columns=compared,
        subset=f"{mix} reference, {matched.height:,} rows of ordinary days, same hours, "
        f"relative to {LEVEL}",
    )


def _require_like_for_like(frame: pl.DataFrame, side: str, columns: Sequence[str]) -> None:
    needed = [*dict.fromkeys([*columns, LEVEL, "day_of_week", "hour_of_day", "is_holiday"])]
    missing = [c for c in [*needed, TIMESTAMP] if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The {side} frame lacks column(s) {missing} that a like-for-like drift "
            f"comparison needs (it has {frame.columns}). The training reference and the "
            "day's features both carry every feature column; pass frames that do."
        )


def reads_holiday(frame: pl.DataFrame) -> pl.Series:
    """Whether a row's features read a holiday: its target day or a day its lags reach back to."""
    moments = frame.get_column(TIMESTAMP)
    if moments.dtype.time_zone is None:  # type: ignore[attr-defined]
        moments = moments.dt.replace_time_zone("UTC")  # naive feature timestamps are UTC
    reads = np.zeros(frame.height, dtype=bool)
    for hours in FEATURE_HOURS_BACK:
        local = (moments - timedelta(hours=hours)).dt.convert_time_zone(DANISH_TZ).dt.date()
        reads |= holiday_mask(local.to_numpy().astype("datetime64[D]"))
    return pl.Series("reads_holiday", reads)


def _comparable(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Ordinary-day rows with a level: their cell (day type, hour) and the columns to compare,
    consumption over the level."""
    level = pl.col(LEVEL).cast(pl.Float64)
    day_type = pl.when(pl.col("is_holiday") == 1).then(6).otherwise(pl.col("day_of_week"))
    return frame.filter(~reads_holiday(frame), level > 0).select(
        (day_type * 24 + pl.col("hour_of_day")).cast(pl.Int64).alias(_CELL),
        *(pl.col(c) / level if c in RELATIVE_COLUMNS else pl.col(c) for c in columns),
    )


def _skipped(columns: list[str], why: str) -> Comparison:
    empty = pl.DataFrame(schema={c: pl.Float64 for c in columns})
    return Comparison(reference=empty, current=empty, columns=columns, subset="none", skipped=why)


def _default_columns(reference: pl.DataFrame, current: pl.DataFrame) -> list[str]:
    both = PREDICTION in reference.columns and PREDICTION in current.columns
    return [*DRIFT_COLUMNS, PREDICTION] if both else list(DRIFT_COLUMNS)


def _require_numeric(frame: pl.DataFrame, side: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The {side} frame lacks column(s) {missing} to compare (it has {frame.columns}). "
            "Pass `columns=` explicitly or add them to the frame."
        )
    wrong = [(c, frame.schema[c]) for c in columns if not frame.schema[c].is_numeric()]
    if wrong:
        raise ValueError(
            f"The {side} frame has non-numeric column(s) {wrong}; drift_report compares "
            "numerical columns only. Leave them out of `columns=`."
        )


def _has_values(frame: pl.DataFrame, column: str) -> bool:
    # Evidently drops null, NaN and inf before scoring and fails on a column left empty.
    return bool(frame.select(pl.col(column).cast(pl.Float64).is_finite().any()).item())


def _run_report(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    method: str,
    threshold: float,
    html_path: Path | None,
) -> Any:
    """Evidently's snapshot: the full preset for the HTML, else one ValueDrift per column."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    columns = reference.columns
    definition = DataDefinition(numerical_columns=columns)
    ref = Dataset.from_pandas(reference.to_pandas(), data_definition=definition)
    cur = Dataset.from_pandas(current.to_pandas(), data_definition=definition)
    # The preset scores every column three times (column count, per-column value, HTML table);
    # ValueDrift alone scores it once. Measured on 100k rows x 18 columns: 7.5 s vs 3.0 s, with
    # the same drifted columns.
    metrics: list[Any] = (
        [DataDriftPreset(columns=columns, method=method, threshold=threshold)]
        if html_path is not None
        else [ValueDrift(column=c, method=method, threshold=threshold) for c in columns]
    )
    snapshot = Report(metrics, include_tests=True).run(current_data=cur, reference_data=ref)
    if html_path is not None:
        _write_text_atomic(snapshot.get_html_str(as_iframe=False), html_path)
    return snapshot


def _column_results(snapshot: Any) -> tuple[dict[str, float], set[str]]:
    """Each column's score, and the columns whose drift test failed."""
    flat = snapshot.dict()
    # The test knows the direction: p-value methods drift below the threshold, distances above.
    failed = {t["metric_config"]["metric_id"] for t in flat["tests"] if t["status"] == "FAIL"}
    scores: dict[str, float] = {}
    drifted: set[str] = set()
    for metric in flat["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            if metric["id"] in failed:
                drifted.add(config["column"])
    return scores, drifted


def _write_text_atomic(text: str, path: Path) -> None:
    # Snapshot.save_html silently writes nothing when given a Path, so the text is written here.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
