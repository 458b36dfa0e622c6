"""Benchmark: a range of forecast days scored and drift-compared as the assets do it now (one
point-in-time join, one scoring pass, the reference prepared once) vs. day by day as they did
before (a join, a scoring pass and a like-for-like preparation of the reference per day).

Usage: `.venv/bin/python bench/ranges.py [--segments 76 760] [--days 7] [--repeats 2]`.
Each size generates 21 training days and the scored days, writes the Feast offline store,
fits the xgboost forecaster and its drift reference as `candidate_model` does, then times every
(stage, path) in a fresh process. Run with `--case FOLDER STAGE PATH` it is that process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from common import PEAK_METHOD_MAXRSS, PEAK_METHOD_RESET, can_reset_peak, measure_peak, table

from mlops_assets.defs.resources import FeatureStoreResource
from mlops_assets.feature_repo import offline
from mlops_assets.lib import drift, families, scenario, scoring
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.lib.lake import Lake

TRAINING_START = date(2025, 2, 3)  # ordinary winter weeks: no Danish holiday until Easter
TRAINING_DAYS = 21
ISSUED = datetime(2025, 3, 1, tzinfo=UTC)
STAGES = ("scoring", "drift")
PATHS = ("per day", "range")
MONITORED = list(drift.MONITORED)


# --- the data of one size, written once -------------------------------------------------------


def prepare(folder: Path, segments: int, days: int) -> list[date]:
    """Generated history, the offline store, a fitted forecaster and its drift reference."""
    training = [TRAINING_START + timedelta(days=i) for i in range(TRAINING_DAYS)]
    scored = [training[-1] + timedelta(days=i + 1) for i in range(days)]
    history = scenario.generate(GeneratorConfig(n_consumer_types=segments // 2), training + scored)
    store = FeatureStoreResource(directory=str(folder / "feature_store"))
    for day, frame in history.features.items():
        offline.write_partition(store.offline_dir, day, frame)
    model, reference = scenario.train_like_production(history.labelled(training))
    model.save(folder / "model")
    reference.write_parquet(folder / "reference.parquet")
    (folder / "days.json").write_text(json.dumps([d.isoformat() for d in scored]))
    # The forecasts the drift reports compare, written once by the range path.
    _score_range(_Case(folder, "predictions"), scored)
    return scored


class _Case:
    """One process's inputs: the offline store, the model, the reference and its output lake."""

    def __init__(self, folder: Path, output: str) -> None:
        self.folder = folder
        self.store = FeatureStoreResource(directory=str(folder / "feature_store"))
        self.models = [scoring.ScoringModel("champion", "1", families.load(folder / "model"))]
        self.out = Lake(folder / output)
        self.forecasts = Lake(folder / "predictions")
        self.reports = folder / output / "reports"


# --- the two paths, as the assets run them (before: per day; now: range) --------------------


def _score_per_day(case: _Case, days: list[date]) -> list[Any]:
    for day in days:
        features = case.store.features_for(scoring.day_entities(case.store.segments_on(day), day))
        case.out.write("predictions", day, scoring.score_day(features, case.models, day, ISSUED))
    return []


def _score_range(case: _Case, days: list[date]) -> list[Any]:
    segments = {day: case.store.segments_on(day) for day in days}
    features = case.store.features_for(scoring.range_entities(segments))
    for day, frame in scoring.score_days(features, case.models, days, ISSUED):
        case.out.write("predictions", day, frame)
    return []


def _drift_day(
    case: _Case,
    day: date,
    features: pl.DataFrame,
    compare: Callable[[pl.DataFrame], drift.Comparison],
) -> list[Any]:
    predictions = case.forecasts.read("predictions", [day])
    assert predictions is not None
    current = scoring.with_champion_forecast(features, predictions).drop_nulls(MONITORED)
    comparison = compare(current)
    if comparison.skipped:
        return [day.isoformat(), comparison.skipped]
    result = drift.drift_report(
        comparison.reference,
        comparison.current,
        comparison.columns,
        method=drift.DAILY_METHOD,
        threshold=drift.DAILY_COLUMN_THRESHOLD,
        html_path=case.reports / f"drift_{day.isoformat()}.html",
    )
    return [day.isoformat(), result.share_drifted, result.scores]


def _drift_per_day(case: _Case, days: list[date]) -> list[Any]:
    reference = pl.read_parquet(case.folder / "reference.parquet")
    out = []
    for day in days:
        features = case.store.features_for(scoring.day_entities(case.store.segments_on(day), day))
        out.append(
            _drift_day(case, day, features, lambda c: drift.like_for_like(reference, c, MONITORED))
        )
    return out


def _drift_range(case: _Case, days: list[date]) -> list[Any]:
    reference = pl.read_parquet(case.folder / "reference.parquet")
    prepared = drift.prepare_reference(reference, MONITORED)
    segments = {day: case.store.segments_on(day) for day in days}
    features = scoring.by_day(case.store.features_for(scoring.range_entities(segments)), days)
    return [
        _drift_day(case, day, features[day], lambda c: drift.compare(prepared, c)) for day in days
    ]


RUNS = {
    ("scoring", "per day"): _score_per_day,
    ("scoring", "range"): _score_range,
    ("drift", "per day"): _drift_per_day,
    ("drift", "range"): _drift_range,
}


def _case_main(folder: str, stage: str, path: str) -> None:
    warnings.simplefilter("ignore")  # Evidently's import-time deprecation warnings
    import evidently  # noqa: F401
    import xgboost  # noqa: F401

    root = Path(folder)
    days = [date.fromisoformat(d) for d in json.loads((root / "days.json").read_text())]
    output = f"{stage}-{path.replace(' ', '_')}"
    case = _Case(root, output)
    # Warm-up on the first day, into a folder of its own: lazy imports, DuckDB, plotly.
    RUNS[stage, path](_Case(root, output + "-warm-up"), days[:1])
    out: dict[str, Any] = {}

    def timed() -> None:
        started = time.perf_counter()
        out["result"] = RUNS[stage, path](case, days)
        out["seconds"] = time.perf_counter() - started

    out["peak_mib"], _ = measure_peak(timed)
    print(json.dumps(out))


def run_case(folder: Path, stage: str, path: str) -> dict[str, Any]:
    args = [sys.executable, __file__, "--case", str(folder), stage, path]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{stage}/{path} failed in {folder}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def _same_outputs(folder: Path, stage: str, results: dict[str, dict[str, Any]]) -> bool:
    """Scoring: every day's Parquet file byte for byte; drift: each day's share and scores."""
    if stage == "drift":
        return results["per day"]["result"] == results["range"]["result"]
    files = [sorted((folder / f"scoring-{p.replace(' ', '_')}").rglob("*.parquet")) for p in PATHS]
    return len(files[0]) == len(files[1]) > 0 and all(
        a.read_bytes() == b.read_bytes() for a, b in zip(*files, strict=True)
    )


def run(sizes: list[int], days: int, repeats: int) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ranges-") as tmp:
        for segments in sizes:
            folder = Path(tmp) / f"segments{segments}"
            started = time.perf_counter()
            prepare(folder, segments, days)
            print(
                f"  {segments} segments: data, model and reference in "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
            for stage in STAGES:
                results = {}
                for path in PATHS:
                    runs = [run_case(folder, stage, path) for _ in range(repeats)]
                    results[path] = min(runs, key=lambda r: r["seconds"])
                    results[path]["peak_mib"] = max(r["peak_mib"] for r in runs)
                before, now = results["per day"], results["range"]
                rows.append(
                    [
                        f"{stage}, {segments} segments x {days} days",
                        segments * 24 * days,
                        f"{before['seconds']:.2f}",
                        f"{now['seconds']:.2f}",
                        f"{before['seconds'] / now['seconds']:.2f}x",
                        f"{before['peak_mib']:,.0f}",
                        f"{now['peak_mib']:,.0f}",
                        "yes" if _same_outputs(folder, stage, results) else "NO",
                    ]
                )
    headers = [
        "case",
        "rows",
        "per day s",
        "range s",
        "ratio",
        "per day MiB",
        "range MiB",
        "same output",
    ]
    peak = PEAK_METHOD_RESET if can_reset_peak() else PEAK_METHOD_MAXRSS
    return (
        f"Times: best of {repeats}, each in a fresh process after a one-day warm-up; "
        "ratio = per day / range.\n"
        f"Peak MiB: {peak}, the most of the {repeats} runs.\n" + table(headers, rows)
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        _case_main(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, nargs="+", default=[76, 760])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(run(args.segments, args.days, args.repeats))


if __name__ == "__main__":
    main()
