"""Ingest one dataset-day: validate what the source delivered, then write it or quarantine it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.lib import landing_zone
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.schema import HOUR_UTC, DatasetSchema
from mlops_assets.lib.sources import Delivery
from mlops_assets.lib.validation import (
    COMPLETENESS,
    SCHEMA,
    Coverage,
    ExpectedSegments,
    Limits,
    Plausibility,
    Skew,
    ValidationReport,
    Violation,
    check,
    clip,
    coerce,
    daily_stats,
    expected_segments,
    plausibility,
    segment_coverage,
    stored_segments_lost,
    value_skew,
)


@dataclass(frozen=True)
class IngestPolicy:
    """The rules and places ingestion works with."""

    limits: Limits
    price_areas: tuple[str, ...]
    quarantine_dir: Path
    skew_z_score: float = 4.0
    skew_lookback_days: int = 7
    segments: ExpectedSegments = field(default_factory=ExpectedSegments)
    plausibility: Plausibility = field(default_factory=Plausibility)


@dataclass(frozen=True)
class DayResult:
    """What happened to one dataset-day."""

    day: date
    report: ValidationReport
    frame: pl.DataFrame | None = None
    path: Path | None = None
    quarantined: tuple[Path, ...] = ()
    skew: Skew | None = None
    coverage: Coverage | None = None
    pending: bool = False  # a file is still being written: the day waits for a later run

    @property
    def accepted(self) -> bool:
        return self.report.passed


def table_name(schema: DatasetSchema) -> str:
    return f"raw_{schema.name}"


def ingest_day(
    schema: DatasetSchema,
    day: date,
    delivered: Sequence[Delivery],
    lake: Lake,
    policy: IngestPolicy,
) -> DayResult:
    """Write the day to the lake if every rule passes; otherwise quarantine its files. A day
    with a file still being written waits: nothing is read, written or quarantined."""
    origin = ", ".join(d.origin for d in delivered) or "no delivery"
    waiting = tuple(Violation(COMPLETENESS, None, d.pending) for d in delivered if d.pending)
    if waiting:
        return DayResult(day, ValidationReport(schema.name, day, origin, waiting), pending=True)

    frame, violations = _combine(schema, delivered)
    history = coverage = None
    if frame is not None:
        violations += check(frame, schema, day, policy.limits, policy.price_areas)
        history, stored = _history(lake, schema, day, policy)
        recent = _since(history, day, policy.segments.lookback_days)
        coverage = segment_coverage(
            frame, schema, recent, stored, policy.segments, policy.price_areas
        )
        lost = stored_segments_lost(frame, schema, stored)
        violations += expected_segments(coverage, lost, schema, policy.segments)
        if not violations:  # plausibility judges values only once they are valid
            skew_window = _since(history, day, policy.skew_lookback_days)
            violations += plausibility(
                frame,
                schema,
                skew_window,
                policy.plausibility,
                _stored_daily_stats(schema, skew_window),
            )
    report = ValidationReport(schema.name, day, origin, tuple(violations))
    if not report.passed:
        moved = []
        for d in delivered:
            if d.landing_file is None:
                continue
            path = landing_zone.quarantine(d.landing_file, policy.quarantine_dir, report)
            if path is None:  # another run moved it first; its reasons are beside it there
                continue
            moved.append(path)
            if d.remote:  # fetched from a bucket: the object moves to its quarantine prefix too
                from mlops_assets.lib.object_store import quarantine_object

                quarantine_object(d.remote, path)
        return DayResult(day, report, quarantined=tuple(moved), coverage=coverage)

    assert frame is not None
    frame = frame.sort(list(schema.key))
    window = _since(history, day, policy.skew_lookback_days)
    skew = value_skew(
        frame, window if window is not None else frame.clear(), schema, policy.skew_z_score
    )
    path = lake.write(table_name(schema), day, frame)
    return DayResult(day, report, frame=frame, path=path, skew=skew, coverage=coverage)


def _history(
    lake: Lake, schema: DatasetSchema, day: date, policy: IngestPolicy
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The lake's rows of the days before `day` the rules look back on, and the stored
    partition of `day` itself (None when absent), in one read."""
    depth = max(policy.skew_lookback_days, policy.segments.lookback_days)
    days = [day - timedelta(days=i) for i in range(depth, -1, -1)]
    rows = lake.read(table_name(schema), days)
    if rows is None:
        return None, None
    on_day = pl.col(HOUR_UTC).dt.date() == day  # a forecast partition is its target day
    stored = rows.filter(on_day)
    before = rows.filter(~on_day)
    return (before if before.height else None), (stored if stored.height else None)


# Each stored day's `daily_stats`, keyed by a hash of its rows: a range run compares every day
# with the same recent days, and a day's figures change only with its rows (a correction).
# Bounded: a few weeks of days of the three datasets.
_DAILY_STATS: dict[tuple[str, date, str], pl.DataFrame] = {}
_DAILY_STATS_ENTRIES = 256


def _stored_daily_stats(schema: DatasetSchema, window: pl.DataFrame | None) -> pl.DataFrame | None:
    """`daily_stats` of the stored days in `window` (rows read from the lake), each day's
    computed once for the same rows."""
    if window is None or window.is_empty():
        return None
    days = window.get_column(HOUR_UTC).dt.date()
    frames = []
    for day in days.unique().sort().to_list():
        rows = window.filter(days == day)
        digest = hashlib.sha256(rows.hash_rows().sort().to_numpy().tobytes()).hexdigest()
        key = (schema.name, day, digest)
        if key not in _DAILY_STATS:
            if len(_DAILY_STATS) >= _DAILY_STATS_ENTRIES:
                _DAILY_STATS.pop(next(iter(_DAILY_STATS)))  # the oldest entry
            _DAILY_STATS[key] = daily_stats(rows, schema)
        frames.append(_DAILY_STATS[key])
    return pl.concat(frames)


def _since(history: pl.DataFrame | None, day: date, days: int) -> pl.DataFrame | None:
    if history is None:
        return None
    return history.filter(pl.col(HOUR_UTC).dt.date() >= day - timedelta(days=days))


def _combine(
    schema: DatasetSchema, delivered: Sequence[Delivery]
) -> tuple[pl.DataFrame | None, list[Violation]]:
    if not delivered:
        return None, [Violation(COMPLETENESS, None, "nothing was delivered for this day")]
    frames, violations = [], []
    for d in delivered:
        if d.read_error or d.frame is None:
            problem = clip(d.read_error or "is empty", 300)
            violations.append(Violation(SCHEMA, None, f"{d.origin} {problem}"))
            continue
        coerced, problems = coerce(d.frame, schema)
        many = len(delivered) > 1
        violations += [_from(v, d.origin) for v in problems] if many else problems
        if coerced is not None:
            frames.append(coerced)
    if violations:
        return None, violations
    return pl.concat(frames, how="vertical"), []


def _from(v: Violation, origin: str) -> Violation:
    return Violation(v.rule, v.column, f"{v.message} (in {origin})", v.rows, v.examples)
