"""Benchmark: building forecasting features, ours (polars) vs. the naive pandas equivalent.

Run through `bench/run.py`. Run directly with `--peak ...` it is the fresh process that times
one implementation on one case and measures its peak memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import naive_features
import pandas as pd
import polars as pl
from common import banner, measure_peak, seconds, table
from polars.testing import assert_frame_equal

from mlops_assets.lib.features import FEATURES_SCHEMA, build_features, staged_window
from mlops_assets.lib.generator import (
    GeneratorConfig,
    generate_consumption,
    generate_weather_forecast,
)
from mlops_assets.lib.staging import stage_consumption, stage_weather_forecast

START = datetime(2024, 1, 1, tzinfo=UTC)
# (segments / 2 price areas, days): 760 x 55 days ~ 1M rows, 760 x 548 days ~ 10M rows.
FULL_CASES = ((380, 55), (380, 548))
QUICK_CASES = ((38, 55), (380, 55))
# The naive side takes tens of seconds on the big case: one timed run there, best of 3 below.
SINGLE_RUN_ROWS = 2_000_000
SIDES = ("ours", "naive")


@dataclass(frozen=True)
class Case:
    """Staged consumption and weather on disk, and the feature window to build."""

    label: str
    folder: Path
    start: datetime
    end: datetime
    rows: int

    @property
    def consumption(self) -> Path:
        return self.folder / "stg_consumption.parquet"

    @property
    def weather(self) -> Path:
        return self.folder / "stg_weather_forecast.parquet"

    def output(self, side: str) -> Path:
        return self.folder / f"features_{side}.parquet"


def make_case(root: Path, n_consumer_types: int, days: int) -> Case:
    """Generate staged-like inputs (dbt column names, naive UTC hours) and write them."""
    config = GeneratorConfig(n_consumer_types=n_consumer_types)
    end = START + timedelta(days=days)
    history_start, _ = staged_window(START, end)
    consumption = stage_consumption(generate_consumption(history_start, end, config))
    weather = stage_weather_forecast(generate_weather_forecast(START, end, config))
    segments = 2 * n_consumer_types
    label = f"{segments} seg x {days} days"
    case = Case(label, root / label.replace(" ", "_"), START, end, segments * days * 24)
    case.folder.mkdir(parents=True)
    consumption.write_parquet(case.consumption)
    weather.write_parquet(case.weather)
    return case


# --- one side on one case, in a fresh process -----------------------------------------------------


def _runner(side: str, case: Case) -> Callable[[], pl.DataFrame | pd.DataFrame]:
    """The timed call of one side, with its input already read."""
    if side == "ours":
        consumption, weather = pl.read_parquet(case.consumption), pl.read_parquet(case.weather)
        return lambda: build_features(consumption, weather, case.start, case.end)
    pd_consumption, pd_weather = pd.read_parquet(case.consumption), pd.read_parquet(case.weather)
    return lambda: naive_features.build_features(pd_consumption, pd_weather, case.start, case.end)


def _side_main(argv: Sequence[str]) -> None:
    side, folder, start, end, repeats = argv
    case = Case("", Path(folder), datetime.fromisoformat(start), datetime.fromisoformat(end), 0)
    run = _runner(side, case)
    # Warm-up on one day of the same input: lazy imports, thread pools, allocator.
    warm = Case("", case.folder, case.start, case.start + timedelta(days=1), 0)
    _runner(side, warm)()
    results: list[pl.DataFrame | pd.DataFrame] = []
    times: list[float] = []

    def timed() -> None:
        started = time.perf_counter()
        results.append(run())
        times.append(time.perf_counter() - started)

    peak, method = measure_peak(timed)
    output = results.pop()
    for _ in range(int(repeats) - 1):
        timed()
        results.clear()
    frame = output if isinstance(output, pl.DataFrame) else pl.from_pandas(output)
    frame.write_parquet(case.output(side))
    print(json.dumps({"times": times, "peak_mib": peak, "method": method}))


def run_side(side: str, case: Case, repeats: int) -> dict[str, object]:
    """Time one side in a new interpreter; its output is left in the case folder."""
    args = [sys.executable, __file__, "--peak", side, str(case.folder)]
    args += [case.start.isoformat(), case.end.isoformat(), str(repeats)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"features benchmark process failed for {side}:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def assert_same_features(case: Case) -> None:
    """Raise unless both sides produced the same rows; floats within a relative 1e-9."""
    ours = pl.read_parquet(case.output("ours"))
    theirs = pl.read_parquet(case.output("naive")).cast(FEATURES_SCHEMA)  # type: ignore[arg-type]
    if ours.height != case.rows:
        raise RuntimeError(f"{case.label}: {ours.height} feature rows, expected {case.rows}.")
    try:
        assert_frame_equal(ours, theirs, rel_tol=1e-9, abs_tol=1e-6)
    except AssertionError as error:
        raise RuntimeError(
            f"{case.label}: the naive features differ from ours, so timing them would be "
            f"unfair.\n{error}"
        ) from error


# --- the benchmark --------------------------------------------------------------------------------


HEADERS = ["case", "rows", "ours", "naive", "naive/ours", "ours rows/s", "ours MiB", "naive MiB"]


def run(quick: bool) -> str:
    """Build the cases, time both sides in fresh processes, check they agree, return the table."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        for n_consumer_types, days in QUICK_CASES if quick else FULL_CASES:
            case = make_case(Path(tmp), n_consumer_types, days)
            naive_repeats = 1 if case.rows > SINGLE_RUN_ROWS else 3
            ours = run_side("ours", case, repeats=3)
            naive = run_side("naive", case, repeats=naive_repeats)
            assert_same_features(case)
            ours_s, naive_s = min(ours["times"]), min(naive["times"])  # type: ignore[type-var]
            rows.append(
                [
                    case.label,
                    case.rows,
                    seconds(ours_s),
                    seconds(naive_s),
                    f"{naive_s / ours_s:.1f}x",
                    f"{case.rows / ours_s:,.0f}",
                    f"{ours['peak_mib']:.0f}",
                    f"{naive['peak_mib']:.0f}",
                ]
            )
            for path in case.folder.iterdir():
                path.unlink()
    return "\n".join(
        [
            banner("Features: build_features (ours, polars) vs. straightforward pandas"),
            "Input: generated staged tables (dbt column names) covering the 360 h look-back,",
            "read from Parquet before timing. naive = MultiIndex reindex onto the hourly grid,",
            "groupby().shift() / groupby().rolling() per segment, tz_convert, merge on the",
            "temperature. Both outputs checked equal (floats to a relative 1e-9) before the",
            "table. Each side runs in its own fresh process: ours best of 3, naive best of 3",
            f"(1 above {SINGLE_RUN_ROWS:,} rows); peak MiB is that process's added peak RSS.",
            "",
            table(HEADERS, rows),
        ]
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--peak"]:
    _side_main(sys.argv[2:])
