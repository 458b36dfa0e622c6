"""Ingest one dataset-day: validate what the source delivered, then write it or quarantine it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.lib import landing_zone
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.schema import DatasetSchema
from mlops_assets.lib.sources import Delivery
from mlops_assets.lib.validation import (
    COMPLETENESS,
    SCHEMA,
    ExpectedSegments,
    Limits,
    Plausibility,
    Skew,
    ValidationReport,
    Violation,
    check,
    coerce,
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
    """Write the day to the lake if every rule passes; otherwise quarantine its files."""
    frame, violations = _combine(schema, delivered)
    if frame is not None:
        violations += check(frame, schema, day, policy.limits, policy.price_areas)
    origin = ", ".join(d.origin for d in delivered) or "no delivery"
    report = ValidationReport(schema.name, day, origin, tuple(violations))
    if not report.passed:
        moved = tuple(
            landing_zone.quarantine(d.landing_file, policy.quarantine_dir, report)
            for d in delivered
            if d.landing_file is not None
        )
        return DayResult(day, report, quarantined=moved)

    assert frame is not None
    frame = frame.sort(list(schema.key))
    lookback = [day - timedelta(days=i) for i in range(policy.skew_lookback_days, 0, -1)]
    history = lake.read(table_name(schema), lookback)
    skew = value_skew(
        frame, history if history is not None else frame.clear(), schema, policy.skew_z_score
    )
    path = lake.write(table_name(schema), day, frame)
    return DayResult(day, report, frame=frame, path=path, skew=skew)


def _combine(
    schema: DatasetSchema, delivered: Sequence[Delivery]
) -> tuple[pl.DataFrame | None, list[Violation]]:
    if not delivered:
        return None, [Violation(COMPLETENESS, None, "nothing was delivered for this day")]
    frames, violations = [], []
    for d in delivered:
        if d.read_error or d.frame is None:
            violations.append(Violation(SCHEMA, None, f"{d.origin} {d.read_error or 'is empty'}"))
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
