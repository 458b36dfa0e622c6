"""Raw daily partitions of consumption, weather and weather forecasts, gated by blocking
validation checks.

A day is validated before it is written: a day that breaks a rule never reaches the lake, its
landing files go to quarantine, and the failed blocking check stops everything downstream.

A range run records each day as soon as it is written, so a crash on day k leaves days 1..k-1
both in the lake and recorded. When every day of the range is accepted, the step also yields its
output, so the downstream steps of the same run go on; Dagster turns that output into one more
materialization per partition of the range (an output always covers the run's whole range: there
is no per-partition output in a single run, dagster-io/dagster#21072), so days 1..n-1 of a clean
range are recorded twice. That second record is the latest one: it carries the day's own
metadata, the range summary (`range`, `range_days`, `range_rows`) and the data version. The last
day is recorded by the output alone, which is why a one-day run records its day once.
"""

from collections.abc import Iterator, Sequence
from datetime import date

import dagster as dg
import polars as pl

from mlops_assets.defs.partitions import daily_partitions, forecast_partitions
from mlops_assets.defs.resources import IngestPolicyResource, LakeResource, RawSourceResource
from mlops_assets.lib.ingest import DayResult, ingest_day, table_name
from mlops_assets.lib.markdown import markdown_table
from mlops_assets.lib.schema import CONSUMPTION, WEATHER, WEATHER_FORECAST, DatasetSchema
from mlops_assets.lib.sources import deliveries
from mlops_assets.lib.validation import (
    BLOCKING_RULES,
    EXPECTED_SEGMENTS,
    RULE_DESCRIPTIONS,
    profile,
)

OWNER = "team:data-engineering"
SKEW_CHECK = "value_skew"
_MAX_DESCRIPTION = 4000


def _check_specs(asset_name: str) -> list[dg.AssetCheckSpec]:
    gates = [
        dg.AssetCheckSpec(
            rule, asset=asset_name, blocking=True, description=RULE_DESCRIPTIONS[rule]
        )
        for rule in BLOCKING_RULES
    ]
    skew = dg.AssetCheckSpec(
        SKEW_CHECK,
        asset=asset_name,
        description="Warns when a segment's daily mean is far from its recent days (z-score).",
    )
    return [*gates, skew]


def build_raw_asset(
    schema: DatasetSchema,
    description: str,
    partitions_def: dg.DailyPartitionsDefinition = daily_partitions,
) -> dg.AssetsDefinition:
    """A daily raw asset for `schema`: fetch, validate, then write to the lake or quarantine."""
    name = table_name(schema)

    @dg.asset(
        name=name,
        description=description,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=_check_specs(name),
        # A rejected day yields no output, so nothing downstream runs on it.
        output_required=False,
        group_name="raw",
        owners=[OWNER],
        kinds={"polars", "parquet"},
        code_version="1",
    )
    def raw_asset(
        context: dg.AssetExecutionContext,
        source: RawSourceResource,
        lake: LakeResource,
        ingest_policy: IngestPolicyResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        days = [date.fromisoformat(k) for k in context.partition_keys]
        config, the_lake, policy = source.config(), lake.lake(), ingest_policy.policy()
        results: list[DayResult] = []
        for i, day in enumerate(days, start=1):
            result = ingest_day(schema, day, deliveries(config, schema, day), the_lake, policy)
            results.append(result)
            _log_day(context, i, len(days), result)
            if result.accepted:
                closes_clean_range = i == len(days) and all(r.accepted for r in results)
                _record_day(context, schema, result, by_output=closes_clean_range)
        yield from _events(results)

    return raw_asset


def _log_day(context: dg.AssetExecutionContext, i: int, n: int, result: DayResult) -> None:
    progress = f"[{i}/{n}] {result.day}"
    if result.accepted:
        rows = result.frame.height if result.frame is not None else 0
        context.log.info(f"{progress}: {rows} rows written to {result.path}")
    else:
        moved = (
            f"; quarantined {[str(p) for p in result.quarantined]}" if result.quarantined else ""
        )
        context.log.error(f"{progress}: {result.report.describe()}{moved}")


def _record_day(
    context: dg.AssetExecutionContext, schema: DatasetSchema, result: DayResult, by_output: bool
) -> None:
    """Record a written day at once, with its own metadata. The same metadata is attached to the
    day's partition of the step output, in case the whole range is accepted and yields one; the
    last day of such a range is recorded by that output alone (`by_output`)."""
    partition = result.day.isoformat()
    metadata = _metadata(schema, [result])
    context.add_asset_metadata(metadata, partition_key=partition)
    if not by_output:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key, partition=partition, metadata=metadata
            )
        )


def _events(results: Sequence[DayResult]) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The check results, with the step output when every day was accepted. A rejected day
    yields no output, so nothing downstream runs in this run; the good days of the range are
    already recorded, one partition at a time."""
    checks = [*_gate_results(results), _skew_result(results)]
    if all(r.accepted for r in results):
        yield dg.MaterializeResult(metadata=_range_summary(results), check_results=checks)
        return
    yield from checks


def _range_summary(results: Sequence[DayResult]) -> dict[str, object]:
    """What the output's record of every day of a range adds to the day's own metadata."""
    if len(results) < 2:
        return {}
    return {
        "range": f"{results[0].day}..{results[-1].day}",
        "range_days": len(results),
        "range_rows": sum(r.frame.height for r in results if r.frame is not None),
    }


def _gate_results(results: Sequence[DayResult]) -> Iterator[dg.AssetCheckResult]:
    for rule in BLOCKING_RULES:
        failures = [(r, v) for r in results for v in r.report.for_rule(rule)]
        failed_days = sorted({r.day.isoformat() for r, _ in failures})
        text = "\n".join(f"{r.day} from {r.report.origin}: {v.describe()}" for r, v in failures)
        yield dg.AssetCheckResult(
            check_name=rule,
            passed=not failures,
            description=(text[:_MAX_DESCRIPTION] if failures else RULE_DESCRIPTIONS[rule]),
            metadata={
                "days_checked": len(results),
                "failed_days": failed_days,
                "violations": len(failures),
                "quarantined": sorted({str(p) for r, _ in failures for p in r.quarantined}),
                **(_coverage_metadata(results) if rule == EXPECTED_SEGMENTS else {}),
            },
        )


def _coverage_metadata(results: Sequence[DayResult]) -> dict[str, object]:
    """Per day: segments expected, present and missing, and where the expectation came from."""
    rows = [
        f"| {r.day} | {c.expected} | {c.present} | {c.missing.height} | "
        f"{', '.join(c.sources) or 'nothing yet'} | "
        f"{'; '.join(' / '.join(map(str, m)) for m in c.missing.head(5).iter_rows())} |"
        for r in results
        if (c := r.coverage) is not None
    ]
    header = "| day | expected | present | missing | expected from | e.g. missing |\n"
    return {
        "segments_expected": max((r.coverage.expected for r in results if r.coverage), default=0),
        "segments_missing": sum(r.coverage.missing.height for r in results if r.coverage),
        "coverage": dg.MetadataValue.md(
            header + "|---|---|---|---|---|---|\n" + "\n".join(rows) if rows else "no day read"
        ),
    }


def _skew_result(results: Sequence[DayResult]) -> dg.AssetCheckResult:
    skews = [(r.day, r.skew) for r in results if r.skew is not None]
    flagged = [
        f"| {day} | {' / '.join(str(v) for v in row[:-1])} | {row[-1]:+.1f} |"
        for day, s in skews
        for row in s.flagged.head(10).iter_rows()
    ]
    max_z = max((s.max_abs_z for _, s in skews), default=0.0)
    table = "| day | segment | z |\n|---|---|---|\n" + "\n".join(flagged)
    return dg.AssetCheckResult(
        check_name=SKEW_CHECK,
        passed=not flagged,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(flagged)} segment-days far from their recent mean"
            if flagged
            else "daily means are in line with recent days"
        ),
        metadata={
            "max_abs_z": float(max_z),
            "compared_days": max((s.compared_days for _, s in skews), default=0),
            "flagged_segments": dg.MetadataValue.md(table if flagged else "none"),
        },
    )


def _metadata(schema: DatasetSchema, results: Sequence[DayResult]) -> dict[str, object]:
    frames = [r.frame for r in results if r.frame is not None]
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=schema.columns)
    summary = profile(frame, schema, [r.day for r in results])
    meta: dict[str, object] = {
        "dagster/row_count": summary.pop("rows"),
        **{k: v for k, v in summary.items() if v is not None},
        "days": len(results),
        "origin": results[0].report.origin if len(results) == 1 else "several (see log)",
        "lake_path": dg.MetadataValue.path(str(results[0].path)) if results[0].path else "",
        "preview": dg.MetadataValue.md(markdown_table(frame.head(5))),
    }
    return meta


raw_consumption = build_raw_asset(
    CONSUMPTION,
    "Hourly electricity consumption per price area and DE35 consumer type (ConsumptionDE35Hour), "
    "validated and written as one Parquet file per UTC day.",
)
raw_weather = build_raw_asset(
    WEATHER,
    "Observed hourly air temperature per price area, validated and written as one Parquet file "
    "per UTC day. Kept as the record of what happened; features never read it (they use the "
    "forecast that was available at the origin).",
)
raw_weather_forecast = build_raw_asset(
    WEATHER_FORECAST,
    "Hourly temperature forecasts per price area, partitioned by target day: every issue "
    "(IssueUTC) for the day's 24 hours. Day D lands on D-1, so its partitions reach today.",
    forecast_partitions,
)
