"""Validation rules for raw data: the gates a day must pass before it may enter the lake.

`coerce` turns whatever a source delivered into the dataset's exact schema or says why it can't;
`check` applies the row rules to a coerced day. Both return violations instead of raising, so the
caller can quarantine the input and report every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    DANISH_TZ,
    HOUR_DK,
    HOUR_UTC,
    ISSUE_UTC,
    PRICE_AREA,
    PRICE_AREAS,
    TEMPERATURE,
    TOTAL_CON,
    DatasetSchema,
)

SCHEMA = "schema"
UNIQUENESS = "uniqueness"
COMPLETENESS = "completeness"
VALIDITY = "validity"
TIMELINESS = "timeliness"
EXPECTED_SEGMENTS = "expected_segments"
PLAUSIBILITY = "plausibility"
BLOCKING_RULES: tuple[str, ...] = (
    SCHEMA,
    UNIQUENESS,
    COMPLETENESS,
    VALIDITY,
    TIMELINESS,
    EXPECTED_SEGMENTS,
    PLAUSIBILITY,
)

RULE_DESCRIPTIONS: dict[str, str] = {
    SCHEMA: "Columns and types match the dataset schema exactly.",
    UNIQUENESS: "One row per hour and segment: the key columns are unique.",
    COMPLETENESS: "Every price area is present, missing hours per segment stay under the "
    "threshold, and no value is null.",
    VALIDITY: "Values are non-negative, within a plausible range and from known codes.",
    TIMELINESS: "Every row belongs to the partition's UTC day; local time agrees with UTC; a "
    "forecast is issued before the hour it forecasts.",
    EXPECTED_SEGMENTS: "The day carries every segment the dataset expects (those of its recent "
    "days in the lake and any declared list), and a replacement never drops a segment the stored "
    "partition has.",
    PLAUSIBILITY: "Values are plausible against the segment's recent days: not all zero, not "
    "flat-lined, and a daily level within a factor of the recent range.",
}

_EXAMPLES = 3
_EXAMPLE_CHARS = 60
# No text field of these datasets is longer (a timestamp, a price area); a longer one is a broken
# or hostile file, reported without echoing it.
MAX_FIELD_BYTES = 256


@dataclass(frozen=True)
class Limits:
    """Thresholds of the row rules."""

    max_missing_hours_share: float = 0.05
    max_total_con_kwh: float = 5.0e7
    min_temperature_c: float = -40.0
    max_temperature_c: float = 45.0


@dataclass(frozen=True)
class ExpectedSegments:
    """Which segments a day must carry: those seen in the lake's last `lookback_days` days (and
    in the stored partition it replaces), plus the declared consumer types in every price area."""

    lookback_days: int = 7
    declared_consumer_types: tuple[int, ...] = ()
    allow_loss: bool = False  # accept a day that lacks expected segments (logged, not blocked)


@dataclass(frozen=True)
class Plausibility:
    """When values are implausible against the segment's recent days (blocking); milder skew only
    warns through `value_skew`."""

    # A segment's daily mean above max_level_ratio x its highest recent daily mean, or below its
    # lowest / max_level_ratio.
    max_level_ratio: float = 3.0
    # A segment repeating one value for this many hours in a row, when its recent days never did.
    flat_hours: int = 12
    # Fewer recent days than this: only the all-zero rule applies.
    min_history_days: int = 3


@dataclass(frozen=True)
class Violation:
    """One broken rule, with what a person needs to find and fix it."""

    rule: str
    column: str | None
    message: str
    rows: int = 0
    examples: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f" column {self.column!r}:" if self.column else ""
        examples = f" e.g. {', '.join(self.examples)}" if self.examples else ""
        return f"[{self.rule}]{where} {self.message}{examples}"


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one dataset-day from one origin (a file, the API or the generator)."""

    dataset: str
    day: date
    origin: str
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.violations

    def failed_rules(self) -> list[str]:
        return [r for r in BLOCKING_RULES if any(v.rule == r for v in self.violations)]

    def for_rule(self, rule: str) -> list[Violation]:
        return [v for v in self.violations if v.rule == rule]

    def describe(self) -> str:
        head = f"raw_{self.dataset} partition {self.day.isoformat()} from {self.origin}"
        if self.passed:
            return f"{head}: all rules passed"
        lines = [f"{head} rejected:"] + [f"  - {v.describe()}" for v in self.violations]
        return "\n".join(lines)


def day_window(day: date) -> tuple[datetime, datetime]:
    """The half-open UTC window [00:00, 24:00) of a partition day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def coerce(df: pl.DataFrame, schema: DatasetSchema) -> tuple[pl.DataFrame | None, list[Violation]]:
    """Cast `df` to `schema` (names, order, dtypes) or return the schema violations."""
    violations: list[Violation] = []
    expected = schema.column_names
    unexpected = [c for c in df.columns if c not in schema.columns]
    for name in expected:
        if name not in df.columns:
            hint = f"; found unexpected {unexpected}" if unexpected else ""
            violations.append(
                Violation(SCHEMA, name, f"is missing (expected columns {expected}{hint})")
            )
    for name in unexpected:
        violations.append(Violation(SCHEMA, name, f"is not in the schema {expected}"))
    if violations:
        return None, violations
    if df.is_empty():  # a header and no rows: the row rules say so
        return pl.DataFrame(schema=schema.columns), []
    violations = [v for name in expected if (v := _oversized(df.get_column(name))) is not None]
    if violations:
        return None, violations

    columns: list[pl.Series] = []
    for name, dtype in schema.columns.items():
        try:
            series, problem = _cast(df.get_column(name), dtype)
        except Exception as error:  # any parser error is a schema violation, never a crash
            series, problem = df.get_column(name), _unparseable(name, dtype, error)
        if problem:
            violations.append(problem)
        else:
            columns.append(series)
    if violations:
        return None, violations
    return pl.DataFrame(columns), []


def _oversized(series: pl.Series) -> Violation | None:
    if series.dtype not in (pl.String, pl.Categorical):
        return None
    lengths = series.cast(pl.String).str.len_bytes()
    bad = lengths > MAX_FIELD_BYTES
    if not bad.any():
        return None
    rows = int(bad.sum())
    return Violation(
        SCHEMA,
        series.name,
        f"has {rows} values longer than {MAX_FIELD_BYTES} bytes (the longest "
        f"{int(lengths.max()):,} bytes; rule: fields of at most {MAX_FIELD_BYTES} bytes)",  # type: ignore[arg-type]
        rows=rows,
        examples=_examples(series.filter(bad)),
    )


def _unparseable(name: str, dtype: pl.DataType, error: Exception) -> Violation:
    return Violation(
        SCHEMA,
        name,
        f"cannot be read as {dtype}: {clip(f'{type(error).__name__}: {error}', 200)}",
    )


def _cast(series: pl.Series, dtype: pl.DataType) -> tuple[pl.Series, Violation | None]:
    name, found = series.name, series.dtype
    if isinstance(dtype, pl.Datetime):
        return _cast_datetime(series, dtype)
    if dtype == pl.String:
        if found in (pl.String, pl.Categorical, pl.Enum):
            return series.cast(pl.String), None
        return series, Violation(SCHEMA, name, f"has type {found}, expected String")
    if found.is_numeric():
        cast = series.cast(dtype, strict=False)
        lost = (cast.is_null() & series.is_not_null()) | (
            (cast.cast(pl.Float64) != series.cast(pl.Float64)).fill_null(False)
        )
        if lost.any():
            return series, _unconvertible(series, lost, f"valid {dtype}")
        return cast, None
    bad = series
    if found == pl.String:
        parsed = series.str.strip_chars().cast(pl.Float64, strict=False)
        bad = series.filter(parsed.is_null() & series.is_not_null())
    return series, Violation(
        SCHEMA,
        name,
        f"has type {found}, expected {dtype} (values that are not numbers)",
        rows=bad.len(),
        examples=_examples(bad),
    )


_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?P<sep>[T ])\d{2}:\d{2}(?P<sec>:\d{2})?(?P<frac>\.\d+)?"
    r"(?P<tz>[+-]\d{2}:?\d{2})?$"
)


def _parse_timestamps(text: pl.Series) -> pl.Series:
    # A format read off the first value parses ~15x faster than letting polars infer one.
    first = text.drop_nulls().head(1).to_list()
    match = _ISO.match(first[0]) if first else None
    if match:
        fmt = "%Y-%m-%d" + match["sep"] + "%H:%M" + (":%S" if match["sec"] else "")
        fmt += ("%.f" if match["frac"] else "") + ("%z" if match["tz"] else "")
        parsed = text.str.to_datetime(fmt, time_unit="us", strict=False)
        if parsed.null_count() == text.null_count():
            return parsed
    # Otherwise infer; values in another format stay null and are reported by the caller.
    try:
        return text.str.to_datetime(time_unit="us", strict=False)
    except pl.exceptions.PolarsError:  # no format fits the sample polars infers from
        return pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us"))


def _cast_datetime(series: pl.Series, dtype: pl.Datetime) -> tuple[pl.Series, Violation | None]:
    name, found = series.name, series.dtype
    if found == pl.String:
        series_dt = _parse_timestamps(series.str.strip_chars())
        unparsed = series_dt.is_null() & series.is_not_null()
        if unparsed.any():
            return series, _unconvertible(series, unparsed, "ISO timestamps")
        series = series_dt.alias(name)
        found = series.dtype
    if not isinstance(found, pl.Datetime):
        return series, Violation(SCHEMA, name, f"has type {found}, expected a timestamp")
    series = series.cast(pl.Datetime("us", found.time_zone))
    if dtype.time_zone is None:
        if found.time_zone is not None:
            series = series.dt.convert_time_zone(DANISH_TZ).dt.replace_time_zone(None)
        return series, None
    if found.time_zone is None:
        return series.dt.replace_time_zone(dtype.time_zone), None
    return series.dt.convert_time_zone(dtype.time_zone), None


def check(
    df: pl.DataFrame,
    schema: DatasetSchema,
    day: date,
    limits: Limits = Limits(),
    price_areas: Sequence[str] = PRICE_AREAS,
) -> list[Violation]:
    """Apply uniqueness, completeness, validity and timeliness to a coerced day."""
    if df.is_empty():
        return [Violation(COMPLETENESS, None, "no rows for this day")]
    return [
        *_uniqueness(df, schema),
        *_validity(df, schema, limits, price_areas),
        *_timeliness(df, schema, day),
        *_completeness(df, schema, day, limits, price_areas),
    ]


def _uniqueness(df: pl.DataFrame, schema: DatasetSchema) -> list[Violation]:
    key = list(schema.key)
    dupes = df.filter(pl.struct(key).is_duplicated())
    if dupes.is_empty():
        return []
    extra = dupes.height - dupes.unique(subset=key).height
    return [
        Violation(
            UNIQUENESS,
            ", ".join(key),
            f"{extra} duplicate rows for the same hour and segment",
            rows=extra,
            examples=_row_examples(dupes.unique(subset=key, maintain_order=True), key),
        )
    ]


def _validity(
    df: pl.DataFrame, schema: DatasetSchema, limits: Limits, price_areas: Sequence[str]
) -> list[Violation]:
    out: list[Violation] = []
    for name in schema.key:
        nulls = df.get_column(name).null_count()
        if nulls:
            out.append(Violation(VALIDITY, name, f"{nulls} rows have no value", rows=nulls))
    out += _rule(
        df,
        PRICE_AREA,
        ~pl.col(PRICE_AREA).is_in(list(price_areas)),
        f"is not a known price area {list(price_areas)}",
    )
    if CONSUMER_TYPE in schema.columns:
        out += _rule(df, CONSUMER_TYPE, pl.col(CONSUMER_TYPE) <= 0, "must be a positive code")
    if TOTAL_CON in schema.columns:
        out += _rule(df, TOTAL_CON, pl.col(TOTAL_CON) < 0, "is negative (rule: TotalCon >= 0)")
        out += _rule(
            df,
            TOTAL_CON,
            (pl.col(TOTAL_CON) > limits.max_total_con_kwh)
            | pl.col(TOTAL_CON).is_infinite()
            | pl.col(TOTAL_CON).is_nan(),
            f"is implausible (rule: TotalCon <= {limits.max_total_con_kwh:g} kWh per hour)",
        )
    if TEMPERATURE in schema.columns:
        lo, hi = limits.min_temperature_c, limits.max_temperature_c
        out += _rule(
            df,
            TEMPERATURE,
            ~pl.col(TEMPERATURE).is_between(lo, hi) | pl.col(TEMPERATURE).is_nan(),
            f"is implausible (rule: {lo:g} <= Temperature <= {hi:g} degC)",
        )
    return out


def _timeliness(df: pl.DataFrame, schema: DatasetSchema, day: date) -> list[Violation]:
    start, end = day_window(day)
    out = _rule(
        df,
        HOUR_UTC,
        ~pl.col(HOUR_UTC).is_between(start, end, closed="left"),
        f"is outside the partition's UTC day [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})",
    )
    out += _rule(
        df,
        HOUR_UTC,
        pl.col(HOUR_UTC) != pl.col(HOUR_UTC).dt.truncate("1h"),
        "is not on the hour",
    )
    if ISSUE_UTC in schema.columns:
        # Issued at or after its target hour, it is an observation posing as a forecast.
        out += _rule(
            df,
            ISSUE_UTC,
            pl.col(ISSUE_UTC) >= pl.col(HOUR_UTC),
            "is not before HourUTC (rule: a forecast is issued before the hour it forecasts)",
        )
    if HOUR_DK in schema.columns:
        local = pl.col(HOUR_UTC).dt.convert_time_zone(DANISH_TZ).dt.replace_time_zone(None)
        out += _rule(df, HOUR_DK, pl.col(HOUR_DK) != local, "disagrees with HourUTC in Danish time")
    return out


def _completeness(
    df: pl.DataFrame,
    schema: DatasetSchema,
    day: date,
    limits: Limits,
    price_areas: Sequence[str],
) -> list[Violation]:
    out: list[Violation] = []
    # Key columns are covered by validity; every other column (the value, HourDK) must be filled.
    for name in (c for c in schema.columns if c not in schema.key):
        nulls = df.get_column(name).null_count()
        if nulls:
            out.append(Violation(COMPLETENESS, name, f"{nulls} rows have no value", rows=nulls))
    # Segments with no rows at all are invisible to missing_hours; a whole absent area is not.
    present = set(df.get_column(PRICE_AREA).drop_nulls().unique().to_list())
    absent = [a for a in price_areas if a not in present]
    if absent:
        out.append(
            Violation(
                COMPLETENESS,
                PRICE_AREA,
                f"no rows at all for price areas {absent} (expected {list(price_areas)})",
            )
        )
    per_segment = missing_hours(df, schema, day)
    bad = per_segment.filter(pl.col("missing_hours") / 24 > limits.max_missing_hours_share)
    if not bad.is_empty():
        worst = bad.sort("missing_hours", descending=True)
        out.append(
            Violation(
                COMPLETENESS,
                HOUR_UTC,
                f"{bad.height} segments miss more than "
                f"{limits.max_missing_hours_share:.0%} of their 24 hours "
                f"({int(bad['missing_hours'].sum())} hours in all)",
                rows=int(bad["missing_hours"].sum()),
                examples=_row_examples(worst, [*schema.segment, "missing_hours"]),
            )
        )
    return out


def missing_hours(df: pl.DataFrame, schema: DatasetSchema, day: date) -> pl.DataFrame:
    """Missing hours of the UTC day per segment present in `df`."""
    start, end = day_window(day)
    segment = list(schema.segment)
    return (
        df.filter(pl.col(HOUR_UTC).is_between(start, end, closed="left"))
        .group_by(segment)
        .agg(pl.col(HOUR_UTC).n_unique().alias("hours"))
        .with_columns((24 - pl.col("hours")).alias("missing_hours"))
        .sort(segment)
    )


def _rule(df: pl.DataFrame, column: str, bad: pl.Expr, message: str) -> list[Violation]:
    offending = df.filter(bad.fill_null(False))
    if offending.is_empty():
        return []
    return [
        Violation(
            VALIDITY if column not in (HOUR_UTC, HOUR_DK, ISSUE_UTC) else TIMELINESS,
            column,
            f"{offending.height} rows: value {message}",
            rows=offending.height,
            examples=_row_examples(offending, _locating(df, column)),
        )
    ]


def _locating(df: pl.DataFrame, column: str) -> list[str]:
    """The key columns that say where a bad value sits, then the value itself."""
    key = [
        c
        for c in (ISSUE_UTC, HOUR_UTC, PRICE_AREA, CONSUMER_TYPE)
        if c in df.columns and c != column
    ]
    return [*key, column]


def _unconvertible(series: pl.Series, bad: pl.Series, expected: str) -> Violation:
    rows = int(bad.sum())
    return Violation(
        SCHEMA,
        series.name,
        f"has {rows} values that are not {expected}",
        rows=rows,
        examples=_examples(series.filter(bad)),
    )


def _examples(series: pl.Series) -> tuple[str, ...]:
    return tuple(clip(repr(v), _EXAMPLE_CHARS) for v in series.head(_EXAMPLES).to_list())


def clip(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, saying how much was cut: input is never echoed
    whole into a message, a log or a reason file."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} characters cut)"


def _row_examples(df: pl.DataFrame, columns: Sequence[str]) -> tuple[str, ...]:
    rows = df.select(columns).head(_EXAMPLES).iter_rows(named=True)
    return tuple("(" + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()) + ")" for row in rows)


def _fmt(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else clip(repr(value), _EXAMPLE_CHARS)


@dataclass(frozen=True)
class Skew:
    """How far a day's per-segment means are from the same segments over recent days."""

    compared_days: int
    max_abs_z: float
    flagged: pl.DataFrame

    @property
    def passed(self) -> bool:
        return self.flagged.is_empty()


def value_skew(
    current: pl.DataFrame, history: pl.DataFrame, schema: DatasetSchema, z_threshold: float
) -> Skew:
    """Compare today's daily mean per segment with the mean and spread of recent daily means."""
    segment = list(schema.series)
    value = schema.value

    def daily_means(df: pl.DataFrame) -> pl.DataFrame:
        return df.group_by([*segment, pl.col(HOUR_UTC).dt.date().alias("day")]).agg(
            pl.col(value).mean().alias("mean")
        )

    empty = pl.DataFrame(schema={**{c: schema.columns[c] for c in segment}, "z": pl.Float64})
    if history.is_empty():
        return Skew(0, 0.0, empty)
    past = daily_means(history)
    n_days = past.get_column("day").n_unique()
    if n_days < 3:
        return Skew(n_days, 0.0, empty)
    reference = past.group_by(segment).agg(
        pl.col("mean").mean().alias("ref_mean"), pl.col("mean").std().alias("ref_std")
    )
    # A floor on the spread keeps very steady segments from flagging tiny moves.
    scored = (
        daily_means(current)
        .join(reference, on=segment, how="inner")
        .with_columns(
            spread=pl.max_horizontal(
                pl.col("ref_std").fill_null(0), pl.col("ref_mean").abs() * 0.02
            )
        )
        .with_columns(z=(pl.col("mean") - pl.col("ref_mean")) / pl.col("spread"))
        .filter(pl.col("z").is_finite())
    )
    if scored.is_empty():
        return Skew(n_days, 0.0, empty)
    max_abs_z = float(scored.get_column("z").abs().max())  # type: ignore[arg-type]
    flagged = (
        scored.filter(pl.col("z").abs() > z_threshold)
        .sort(pl.col("z").abs(), descending=True)
        .select([*segment, "z"])
    )
    return Skew(n_days, max_abs_z, flagged)


def profile(df: pl.DataFrame, schema: DatasetSchema, days: Sequence[date]) -> dict[str, object]:
    """A small summary of ingested rows for asset metadata."""
    value = df.get_column(schema.value)
    missing = sum(int(missing_hours(df, schema, d)["missing_hours"].sum()) for d in days)
    return {
        "rows": df.height,
        "segments": df.select(schema.segment).n_unique() if df.height else 0,
        "first_hour": _fmt(df.get_column(HOUR_UTC).min()) if df.height else None,
        "last_hour": _fmt(df.get_column(HOUR_UTC).max()) if df.height else None,
        "missing_hours": missing,
        f"{schema.value}_min": float(value.min()) if df.height else None,  # type: ignore[arg-type]
        f"{schema.value}_mean": float(value.mean()) if df.height else None,  # type: ignore[arg-type]
        f"{schema.value}_max": float(value.max()) if df.height else None,  # type: ignore[arg-type]
    }


# --- rules against the lake's history -------------------------------------------------------------

# Values that are amounts (never below zero): an all-zero day of them is implausible, and their
# level compares by ratio. A temperature has neither property.
QUANTITIES = frozenset({TOTAL_CON})


@dataclass(frozen=True)
class Coverage:
    """Which segments a day carries against those it is expected to carry."""

    expected: int
    present: int
    missing: pl.DataFrame  # the segment columns of every expected segment the day lacks
    sources: tuple[str, ...]  # where the expectation came from

    @property
    def complete(self) -> bool:
        return self.missing.is_empty()


def segment_coverage(
    current: pl.DataFrame,
    schema: DatasetSchema,
    history: pl.DataFrame | None,
    stored: pl.DataFrame | None,
    expected: ExpectedSegments,
    price_areas: Sequence[str],
) -> Coverage:
    """The day's segments against the recent days' (`history`), the stored partition it would
    replace (`stored`) and the declared consumer types in every price area."""
    series = list(schema.series)
    wanted: list[pl.DataFrame] = []
    sources = []
    if history is not None and not history.is_empty():
        wanted.append(history.select(series).unique())
        sources.append(f"the lake's last {expected.lookback_days} days")
    if stored is not None and not stored.is_empty():
        # A replacement keeps every segment of the stored partition (per issue, for forecasts).
        wanted.append(stored.select(schema.segment).unique().select(series))
        sources.append("the stored partition it replaces")
    if expected.declared_consumer_types and CONSUMER_TYPE in schema.columns:
        wanted.append(
            pl.DataFrame({PRICE_AREA: list(price_areas)}, schema={PRICE_AREA: pl.String}).join(
                pl.DataFrame(
                    {CONSUMER_TYPE: list(expected.declared_consumer_types)},
                    schema={CONSUMER_TYPE: schema.columns[CONSUMER_TYPE]},
                ),
                how="cross",
            )
        )
        sources.append("MLOPS_EXPECTED_CONSUMER_TYPES")
    present = current.select(series).unique()
    if not wanted:
        return Coverage(present.height, present.height, present.clear(), ())
    every = pl.concat([w.cast(present.schema) for w in wanted]).unique()
    missing = every.join(present, on=series, how="anti", nulls_equal=True).sort(series)
    return Coverage(every.height, present.height, missing, tuple(sources))


def stored_segments_lost(
    current: pl.DataFrame, schema: DatasetSchema, stored: pl.DataFrame | None
) -> int:
    """How many segments (per issue, for forecasts) of the stored partition the day lacks."""
    if stored is None or stored.is_empty():
        return 0
    segment = list(schema.segment)
    return (
        stored.select(segment)
        .unique()
        .join(current.select(segment).unique(), on=segment, how="anti", nulls_equal=True)
        .height
    )


def expected_segments(
    coverage: Coverage, lost: int, schema: DatasetSchema, expected: ExpectedSegments
) -> list[Violation]:
    """The blocking verdict on a coverage, unless losing segments is explicitly allowed."""
    if expected.allow_loss or (coverage.complete and not lost):
        return []
    columns = ", ".join(schema.series)
    out = []
    if not coverage.complete:
        n = coverage.missing.height
        out.append(
            Violation(
                EXPECTED_SEGMENTS,
                columns,
                f"carries {coverage.expected - n} of the {coverage.expected} expected segments: "
                f"{n} missing (expected from {' and '.join(coverage.sources)}; rule: every "
                "expected segment, MLOPS_ALLOW_SEGMENT_LOSS=on accepts fewer)",
                rows=n,
                examples=_row_examples(coverage.missing, list(schema.series)),
            )
        )
    if lost and coverage.complete:
        out.append(
            Violation(
                EXPECTED_SEGMENTS,
                columns,
                f"would shrink the stored partition: {lost} of its segments (issue times) "
                "are missing (rule: a replacement keeps every stored segment)",
                rows=lost,
            )
        )
    return out


def plausibility(
    current: pl.DataFrame,
    schema: DatasetSchema,
    history: pl.DataFrame | None,
    rules: Plausibility,
    history_daily: pl.DataFrame | None = None,
) -> list[Violation]:
    """Blocking plausibility of a day against each segment's recent days: all zero, flat-lined,
    or a daily level outside [lowest recent / ratio, highest recent x ratio]. `history_daily`,
    when given, is `daily_stats(history)` already computed (ingestion keeps each stored day's)."""
    value = schema.value
    quantity = value in QUANTITIES
    out: list[Violation] = []
    if quantity and current.height and (current.get_column(value) == 0).all():
        return [
            Violation(
                PLAUSIBILITY,
                value,
                f"every one of the day's {current.height:,} values is 0 (rule: not all zero)",
                rows=current.height,
            )
        ]
    past = history if history is not None else current.clear()
    days = past.get_column(HOUR_UTC).dt.date().n_unique() if past.height else 0
    if days < rules.min_history_days:
        return out
    series = list(schema.series)
    recent = (
        (history_daily if history_daily is not None else daily_stats(past, schema))
        .group_by(series)
        .agg(
            pl.col("mean").min().alias("recent_min"),
            pl.col("mean").max().alias("recent_max"),
            pl.col("longest").max().alias("recent_longest"),
        )
    )
    today = daily_stats(current, schema).join(recent, on=series, how="inner")
    if quantity:
        zero = today.filter((pl.col("max") == 0) & (pl.col("recent_max") > 0))
        out += _plausibility_violation(
            zero,
            schema,
            "segments are 0 all day though their last days were not (rule: not all zero)",
            ["mean"],
        )
    flat = today.filter(
        (pl.col("longest") >= rules.flat_hours) & (pl.col("recent_longest") < rules.flat_hours)
    )
    if quantity:
        flat = flat.filter(pl.col("max") > 0)  # already reported as zero
    out += _plausibility_violation(
        flat,
        schema,
        f"segments repeat one value for {rules.flat_hours} hours or more in a row, which their "
        f"last {days} days never did (rule: not flat-lined, MLOPS_PLAUSIBILITY_FLAT_HOURS="
        f"{rules.flat_hours})",
        ["longest", "first"],
    )
    if quantity:
        ratio = rules.max_level_ratio
        level = today.filter(
            (pl.col("max") > 0)
            & (
                (pl.col("mean") > ratio * pl.col("recent_max"))
                | (pl.col("mean") * ratio < pl.col("recent_min"))
            )
        )
        out += _plausibility_violation(
            level,
            schema,
            f"segments have a daily mean outside [lowest / {ratio:g}, highest x {ratio:g}] of "
            f"their last {days} days' means (rule: level, MLOPS_PLAUSIBILITY_MAX_LEVEL_RATIO="
            f"{ratio:g})",
            ["mean", "recent_min", "recent_max"],
        )
    return out


def daily_stats(df: pl.DataFrame, schema: DatasetSchema) -> pl.DataFrame:
    """Per segment (per issue, for forecasts) and UTC day: mean, max, first value and the longest
    run of one repeated value, keyed by the series columns. A day's figures depend on its own
    rows only, so those of several days are those of each day, concatenated."""
    value = schema.value
    segment = [*schema.segment, "day"]
    ordered = df.select(
        *schema.segment, pl.col(HOUR_UTC).dt.date().alias("day"), HOUR_UTC, value
    ).sort([*segment, HOUR_UTC])
    # A run starts where the value or the segment-day changes from the row before.
    starts = (pl.col(value) != pl.col(value).shift(1)).fill_null(True)
    for column in segment:
        starts = starts | pl.col(column).ne_missing(pl.col(column).shift(1))
    per_run = (
        ordered.with_columns(starts.cum_sum().alias("run"))
        .group_by([*segment, "run"])
        .agg(
            pl.len().alias("len"),
            pl.col(value).sum().alias("sum"),
            pl.col(value).count().alias("count"),
            pl.col(value).max().alias("max"),
            pl.col(value).first().alias("first"),
        )
        .sort("run")
    )
    return per_run.group_by(segment, maintain_order=True).agg(
        (pl.col("sum").sum() / pl.col("count").sum()).alias("mean"),
        pl.col("max").max(),
        pl.col("first").first(),
        pl.col("len").max().alias("longest"),
    )


def _plausibility_violation(
    flagged: pl.DataFrame, schema: DatasetSchema, message: str, figures: list[str]
) -> list[Violation]:
    if flagged.is_empty():
        return []
    shown = flagged.sort(list(schema.segment)).with_columns(pl.col(pl.Float64).round(3))
    return [
        Violation(
            PLAUSIBILITY,
            schema.value,
            f"{flagged.height} {message}",
            rows=flagged.height,
            examples=_row_examples(shown, [*schema.segment, *figures]),
        )
    ]
