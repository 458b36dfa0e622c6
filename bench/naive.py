"""The naive equivalent of raw-day ingestion, written the straightforward way.

pandas `read_csv`, one Python loop over the rows to parse and type-check them, a second loop for
the row rules (a set for duplicate keys, zoneinfo per row for HourDK, a dict of hours per segment
for completeness), then `to_parquet`. It applies the same rules and thresholds as
`mlops_assets.lib.validation`, so both reach the same verdict; the benchmark checks that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd

from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    CONSUMPTION,
    DANISH_TZ,
    HOUR_DK,
    HOUR_UTC,
    PRICE_AREA,
    PRICE_AREAS,
    TOTAL_CON,
)
from mlops_assets.lib.validation import (
    COMPLETENESS,
    SCHEMA,
    TIMELINESS,
    UNIQUENESS,
    VALIDITY,
    Limits,
)

COLUMNS = CONSUMPTION.column_names
KEY = list(CONSUMPTION.key)
_INT32 = (-(2**31), 2**31 - 1)
_DANISH = ZoneInfo(DANISH_TZ)
DEFAULT_LIMITS = Limits()


class Finding(NamedTuple):
    """One broken rule: the rule, the column and how many rows (0 when not row-based)."""

    rule: str
    column: str | None
    rows: int


Record = tuple[datetime | None, datetime | None, str | None, int | None, float | None]


def validate(
    df: pd.DataFrame,
    day: date,
    limits: Limits = DEFAULT_LIMITS,
    price_areas: Sequence[str] = PRICE_AREAS,
) -> tuple[list[Record], list[Finding]]:
    """Parse and check a consumption day read by pandas; the records and the broken rules."""
    records, findings = _parse(df)
    if findings:
        return [], findings
    return records, _check(records, day, limits, price_areas)


def ingest(
    csv: Path,
    day: date,
    out: Path,
    limits: Limits = DEFAULT_LIMITS,
    price_areas: Sequence[str] = PRICE_AREAS,
) -> list[Finding]:
    """Read a landing CSV, validate it and, if it passes, write it sorted to Parquet."""
    records, findings = validate(read_csv(csv), day, limits, price_areas)
    if findings:
        return findings
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame[CONSUMER_TYPE] = frame[CONSUMER_TYPE].astype("int32")
    frame = frame.sort_values(KEY, ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, compression="zstd", index=False)
    return []


def read_csv(path: Path) -> pd.DataFrame:
    """Read a landing CSV; only empty fields are missing, as in polars (not "n/a" or "NaN")."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _parse(df: pd.DataFrame) -> tuple[list[Record], list[Finding]]:
    missing = [Finding(SCHEMA, c, 0) for c in COLUMNS if c not in df.columns]
    unexpected = [Finding(SCHEMA, c, 0) for c in df.columns if c not in COLUMNS]
    if missing or unexpected:
        return [], missing + unexpected
    findings = []
    for name in (HOUR_UTC, HOUR_DK, PRICE_AREA):
        if df[name].dtype != object:
            findings.append(Finding(SCHEMA, name, 0))
    if findings:
        return [], findings

    bad = dict.fromkeys(COLUMNS, 0)
    records: list[Record] = []
    for row in df[COLUMNS].itertuples(index=False, name=None):
        hour_utc, hour_dk, area, ctype, total = row
        utc = _timestamp(hour_utc)
        if utc is False:
            bad[HOUR_UTC] += 1
        dk = _timestamp(hour_dk)
        if dk is False:
            bad[HOUR_DK] += 1
        code = _integer(ctype)
        if code is False:
            bad[CONSUMER_TYPE] += 1
        value = _float(total)
        if value is False:
            bad[TOTAL_CON] += 1
        if isinstance(utc, datetime):
            utc = utc.astimezone(UTC) if utc.tzinfo else utc.replace(tzinfo=UTC)
        if isinstance(dk, datetime) and dk.tzinfo:
            dk = dk.astimezone(_DANISH).replace(tzinfo=None)
        records.append((utc, dk, None if _missing(area) else area, code, value))  # type: ignore[arg-type]
    findings = [Finding(SCHEMA, c, n) for c, n in bad.items() if n]
    return ([], findings) if findings else (records, [])


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _timestamp(value: object) -> datetime | bool | None:
    if _missing(value):
        return None
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        return False


def _integer(value: object) -> int | bool | None:
    if _missing(value):
        return None
    number = _float(value) if isinstance(value, str) else value
    if number is False or number is None:
        return False
    if float(number) != int(number) or not _INT32[0] <= int(number) <= _INT32[1]:  # type: ignore[arg-type]
        return False
    return int(number)  # type: ignore[arg-type]


def _float(value: object) -> float | bool | None:
    if _missing(value):
        return None
    try:
        return float(str(value).strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except ValueError:
        return False


def _check(
    records: list[Record], day: date, limits: Limits, price_areas: Sequence[str]
) -> list[Finding]:
    if not records:
        return [Finding(COMPLETENESS, None, 0)]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    seen: set[tuple[object, ...]] = set()
    duplicates = 0
    counts = {
        "null_utc": 0,
        "null_area": 0,
        "null_type": 0,
        "null_dk": 0,
        "null_total": 0,
        "unknown_area": 0,
        "bad_type": 0,
        "negative": 0,
        "implausible": 0,
        "outside_day": 0,
        "off_hour": 0,
        "dk_mismatch": 0,
    }
    areas_present: set[str] = set()
    hours_per_segment: dict[tuple[str | None, int | None], set[datetime]] = {}
    for utc, dk, area, code, total in records:
        key = (utc, area, code)
        if key in seen:
            duplicates += 1
        else:
            seen.add(key)
        if utc is None:
            counts["null_utc"] += 1
        else:
            if not start <= utc < end:
                counts["outside_day"] += 1
            else:
                hours_per_segment.setdefault((area, code), set()).add(utc)
            if utc.minute or utc.second or utc.microsecond:
                counts["off_hour"] += 1
            if dk is not None and dk != utc.astimezone(_DANISH).replace(tzinfo=None):
                counts["dk_mismatch"] += 1
        if area is None:
            counts["null_area"] += 1
        else:
            areas_present.add(area)
            if area not in price_areas:
                counts["unknown_area"] += 1
        if code is None:
            counts["null_type"] += 1
        elif code <= 0:
            counts["bad_type"] += 1
        if dk is None:
            counts["null_dk"] += 1
        if total is None:
            counts["null_total"] += 1
        else:
            if total < 0:
                counts["negative"] += 1
            if total > limits.max_total_con_kwh or math.isinf(total) or math.isnan(total):
                counts["implausible"] += 1

    named = [
        (UNIQUENESS, ", ".join(KEY), duplicates),
        (VALIDITY, HOUR_UTC, counts["null_utc"]),
        (VALIDITY, PRICE_AREA, counts["null_area"]),
        (VALIDITY, CONSUMER_TYPE, counts["null_type"]),
        (VALIDITY, PRICE_AREA, counts["unknown_area"]),
        (VALIDITY, CONSUMER_TYPE, counts["bad_type"]),
        (VALIDITY, TOTAL_CON, counts["negative"]),
        (VALIDITY, TOTAL_CON, counts["implausible"]),
        (TIMELINESS, HOUR_UTC, counts["outside_day"]),
        (TIMELINESS, HOUR_UTC, counts["off_hour"]),
        (TIMELINESS, HOUR_DK, counts["dk_mismatch"]),
        (COMPLETENESS, HOUR_DK, counts["null_dk"]),
        (COMPLETENESS, TOTAL_CON, counts["null_total"]),
    ]
    findings = [Finding(rule, column, n) for rule, column, n in named if n]
    if any(a not in areas_present for a in price_areas):
        findings.append(Finding(COMPLETENESS, PRICE_AREA, 0))
    missing = [24 - len(hours) for hours in hours_per_segment.values()]
    too_many = [m for m in missing if m / 24 > limits.max_missing_hours_share]
    if too_many:
        findings.append(Finding(COMPLETENESS, HOUR_UTC, sum(too_many)))
    return findings
