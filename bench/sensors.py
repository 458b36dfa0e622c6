"""Benchmark: the landing-zone sensor (Watermark cursor, one scandir, no reading) vs. a naive
sensor that reads every file and keeps all seen names in a JSON cursor.

Run through `bench/run.py`, or directly: `.venv/bin/python bench/sensors.py [--quick]`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
from common import banner, best_of, measure_peak, seconds, table

from mlops_assets.defs.automation.sensors import RANGE_END, RANGE_START, STAGED, build_sensors
from mlops_assets.defs.jobs import ingestion_job
from mlops_assets.lib import triggers
from mlops_assets.lib.landing_zone import FILE_NAME
from mlops_assets.settings import MonitoringPolicy, Settings

FULL_SIZES = (1_000, 10_000)
QUICK_SIZES = (1_000, 5_000)
TARGET_S = 1.0
FIRST_DAY = date(2010, 1, 1)
OURS_REPEATS = 5
NAIVE_REPEATS = 3
NAIVE_REPEATS_UP_TO = 1_000  # files; above, the naive sensor's ticks run once each


# --- the landing folder ---------------------------------------------------------------------------


def landing_file(folder: Path, dataset: str, day: date) -> Path:
    path = folder / f"{dataset}_{day.isoformat()}.csv"
    path.write_text(f"day,value\n{day.isoformat()},0\n")  # one row: the naive sensor reads it
    return path


def fill_landing(folder: Path, n_files: int) -> date:
    """`n_files` files, consumption and weather for consecutive days; returns the next day."""
    folder.mkdir(parents=True)
    for i in range(n_files):
        landing_file(folder, triggers.DATASETS[i % 2], FIRST_DAY + timedelta(days=i // 2))
    return FIRST_DAY + timedelta(days=(n_files + 1) // 2)


# --- the sensors ----------------------------------------------------------------------------------


@contextmanager
def settings_for(data_dir: Path, landing_dir: Path):  # noqa: ANN201
    """Settings.from_env() with MLOPS_DATA_DIR and MLOPS_LANDING_DIR pointing at the temp dirs."""
    names = ("MLOPS_DATA_DIR", "MLOPS_LANDING_DIR")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(MLOPS_DATA_DIR=str(data_dir), MLOPS_LANDING_DIR=str(landing_dir))
    try:
        yield Settings.from_env()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def naive_sensor(landing_dir: Path, max_days_per_run: int) -> dg.SensorDefinition:
    """List the folder, read every file with polars to find its day, and keep a JSON list of all
    names seen so far as the cursor. Same run requests as ours (day ranges), but no run budget."""

    @dg.sensor(name="naive_landing_sensor", job=ingestion_job, minimum_interval_seconds=30)
    def naive_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = set(json.loads(context.cursor or "[]"))
        new: dict[str, set[date]] = {}
        new_names = []
        for name in sorted(os.listdir(landing_dir)):
            match = FILE_NAME.match(name)
            if match is None or match["dataset"] not in triggers.DATASETS:
                continue
            frame = pl.read_csv(landing_dir / name, try_parse_dates=True)
            day = frame["day"][0]
            if name not in seen:
                new.setdefault(match["dataset"], set()).add(day)
                new_names.append(name)
        cursor = json.dumps(sorted(seen.union(new_names)))
        requests = [
            dg.RunRequest(
                run_key=f"naive:{dataset}:{first}:{last}:{len(seen) + len(new_names)}",
                asset_selection=[dg.AssetKey(f"raw_{dataset}"), STAGED[dataset]],
                tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
            )
            for dataset, days in sorted(new.items())
            for first, last in triggers.day_ranges(days, max_days_per_run)
        ]
        if not requests:
            return dg.SensorResult(skip_reason="no new files", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return naive_landing_sensor


class Ticker:
    """Evaluate one sensor's ticks the way the daemon does, on a shared ephemeral instance."""

    def __init__(self, sensor: dg.SensorDefinition, instance: dg.DagsterInstance) -> None:
        self.sensor = sensor
        self.instance = instance

    def __call__(self, cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor)
        result = self.sensor.evaluate_tick(context)
        return list(result.run_requests or []), result.cursor

    def measure(self, cursor: str | None, repeats: int) -> Tick:
        """Best time of `repeats` ticks from `cursor`; the first runs under measure_peak."""
        times: list[float] = []
        results: list[tuple[list[dg.RunRequest], str | None]] = []

        def once() -> None:
            started = time.perf_counter()
            results.append(self(cursor))
            times.append(time.perf_counter() - started)

        peak, _ = measure_peak(once)
        for _ in range(repeats - 1):
            once()
        requests, new_cursor = results[-1]
        return Tick(min(times), max(peak, 0.0), requests, new_cursor)


@dataclass
class Tick:
    seconds: float
    peak_mib: float
    requests: list[dg.RunRequest]
    cursor: str | None


def covered(requests: list[dg.RunRequest]) -> set[str]:
    """The (dataset, day) pairs a list of ranged run requests asks for, as 'dataset:day'."""
    out = set()
    for request in requests:
        dataset = next(k.path[-1].removeprefix("raw_") for k in request.asset_selection or [])
        first = date.fromisoformat(request.tags[RANGE_START])
        last = date.fromisoformat(request.tags[RANGE_END])
        out |= {f"{dataset}:{first + timedelta(days=d)}" for d in range((last - first).days + 1)}
    return out


# --- one size -------------------------------------------------------------------------------------


def sensors_for(root: Path, landing: Path) -> tuple[Ticker, Ticker, MonitoringPolicy]:
    """The real landing_zone_sensor (from Settings.from_env()) and the naive one, on `landing`."""
    with settings_for(root / f"data-{landing.name}", landing) as settings:
        sensors = {s.name: s for s in build_sensors(settings)}
    policy = settings.monitoring
    instance = dg.DagsterInstance.ephemeral()
    ours = Ticker(sensors["landing_zone_sensor"], instance)
    naive = Ticker(naive_sensor(landing, policy.sensor_max_days_per_run), instance)
    return ours, naive, policy


def warm_up(root: Path) -> None:
    """One tick of each sensor on a 4-file folder: imports, regex, polars' CSV reader, instance."""
    landing = root / "warm-up"
    fill_landing(landing, 4)
    ours, naive, _ = sensors_for(root, landing)
    ours(None)
    naive(None)


def files_upto(entries: list[tuple[str, int]], cursor: str | None) -> int:
    mark = triggers.Watermark.decode(cursor)
    return sum(triggers.Watermark(mtime, name) <= mark for name, mtime in entries)


def one_size(root: Path, n_files: int) -> dict[str, object]:
    landing = root / f"landing{n_files}"
    next_day = fill_landing(landing, n_files)
    entries = triggers.list_landing(landing)
    ours, naive, policy = sensors_for(root, landing)
    out: dict[str, object] = {"n": n_files, "policy": policy}

    # (a) ours, the first tick over all N files (it takes what fits its run budget) ...
    first = ours.measure(None, OURS_REPEATS)
    out["ours_first"] = first
    out["first_files"] = files_upto(entries, first.cursor)
    # ... and tick after tick until a tick finds nothing new
    cursor, ticks, runs, ours_days = None, 0, 0, set()
    started = time.perf_counter()
    while True:
        requests, cursor = ours(cursor)
        if not requests:
            break
        ticks, runs = ticks + 1, runs + len(requests)
        ours_days |= covered(requests)
    out["drain_s"] = time.perf_counter() - started  # includes the final empty tick
    out["drain_ticks"], out["drain_runs"] = ticks, runs
    out["drained_files"] = files_upto(entries, cursor)
    end_cursor = cursor

    # (b) ours, steady state: cursor at the end, nothing new
    out["ours_steady"] = ours.measure(end_cursor, OURS_REPEATS)

    # the naive sensor: first tick (all N files in one go) and steady state
    naive_repeats = NAIVE_REPEATS if n_files <= NAIVE_REPEATS_UP_TO else 1
    out["naive_repeats"] = naive_repeats
    naive_first = naive.measure(None, naive_repeats)
    out["naive_first"] = naive_first
    out["naive_steady"] = naive.measure(naive_first.cursor, naive_repeats)
    out["naive_cursor_kb"] = len(naive_first.cursor or "") / 1000
    out["naive_json"] = best_of(
        lambda: json.dumps(sorted(set(json.loads(naive_first.cursor or "[]")))), OURS_REPEATS
    )
    naive_days = covered(naive_first.requests)
    out["same_days"] = ours_days == naive_days and len(ours_days) == n_files

    # (c) ours, one new file arrived after the steady state
    landing_file(landing, "consumption", next_day)
    new = ours.measure(end_cursor, OURS_REPEATS)
    out["ours_new"] = new
    out["new_moved"] = new.cursor != end_cursor
    return out


# --- the benchmark --------------------------------------------------------------------------------


def _under(took: float) -> str:
    return "yes" if took < TARGET_S else "NO"


def _mib(value: object) -> str:
    return f"{max(float(value), 0.0):,.1f}"  # type: ignore[arg-type]


def run(quick: bool = False) -> str:
    """Fill temporary landing folders, time both sensors' ticks and return the tables."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    dagster_log = logging.getLogger("dagster")
    level = dagster_log.level
    dagster_log.setLevel(logging.WARNING)  # "N new file(s) left for the next tick", per tick
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sensors-") as tmp:
            results = [one_size(Path(tmp), n) for n in sizes]
    finally:
        dagster_log.setLevel(level)
    policy = results[0]["policy"]
    ticks, drain, compare, target, notes = [], [], [], [], []
    for r in results:
        n = r["n"]
        ticks += [
            [f"ours, (a) first tick, cursor empty", n, seconds(r["ours_first"]),
             r["first_runs"], r["first_files"], _mib(r["ours_first_peak"])],
            [f"ours, (b) steady, no new file", n, seconds(r["ours_steady"]),
             r["steady_runs"], 0, _mib(r["ours_steady_peak"])],
            [f"ours, (c) 1 new file", n + 1, seconds(r["ours_new"]), r["new_runs"], 1, ""],
            [f"naive, first tick (no budget)", n, seconds(r["naive_first"]),
             r["naive_first_runs"], n, _mib(r["naive_first_peak"])],
            [f"naive, steady, no new file", n, seconds(r["naive_steady"]), 0, 0,
             _mib(r["naive_steady_peak"])],
        ]  # fmt: skip
        drain.append(
            [
                n,
                r["drain_ticks"],
                r["drain_runs"],
                r["drained_files"],
                seconds(r["drain_s"]),
                seconds(r["drain_s"] / max(r["drain_ticks"], 1)),  # type: ignore[operator]
                "yes" if r["same_days"] else "NO",
            ]
        )
        compare += [
            [n, "first tick", seconds(r["naive_first"]), seconds(r["ours_first"]),
             f"{r['naive_first'] / r['ours_first']:,.0f}x"],  # type: ignore[operator]
            [n, "steady tick", seconds(r["naive_steady"]), seconds(r["ours_steady"]),
             f"{r['naive_steady'] / r['ours_steady']:,.0f}x"],  # type: ignore[operator]
        ]  # fmt: skip
        target.append(
            [
                n,
                f"{seconds(r['ours_first'])}: {_under(r['ours_first'])}",  # type: ignore[arg-type]
                f"{seconds(r['ours_steady'])}: {_under(r['ours_steady'])}",  # type: ignore[arg-type]
                f"{seconds(r['ours_new'])}: {_under(r['ours_new'])}",  # type: ignore[arg-type]
                f"{seconds(r['naive_steady'])}: {_under(r['naive_steady'])}",  # type: ignore[arg-type]
            ]
        )
        notes.append(
            f"{n:,} files: the naive JSON cursor is {r['naive_cursor_kb']:,.0f} kB; its "
            f"json.loads + dumps alone take {seconds(r['naive_json'])} (the rest is reading). "
            f"One new file: {r['new_runs']} run request(s), cursor "
            f"{'moved' if r['new_moved'] else 'DID NOT MOVE'}."
        )
    return "\n".join(
        [
            banner("Sensors: landing_zone_sensor (Watermark cursor) vs. a naive re-reading sensor"),
            "Landing folder in a temp dir: N tiny CSV files (header + 1 row), consumption_<day>.csv",
            "and weather_<day>.csv for consecutive days from 2010-01-01. ours = the real sensor from",
            "build_sensors(Settings.from_env()) with MLOPS_DATA_DIR/MLOPS_LANDING_DIR set; each tick",
            "is build_sensor_context(ephemeral instance, cursor) + evaluate_tick (one scandir, no",
            f"reading; at most {policy.sensor_max_runs_per_tick} run requests of at most "  # type: ignore[attr-defined]
            f"{policy.sensor_max_days_per_run} days per tick). naive = lists the",  # type: ignore[attr-defined]
            "folder, pl.read_csv of every file to find its day, a JSON cursor of all seen names",
            "(loads + dumps of the full list each tick), same day-range run requests, no budget.",
            f"Times: best of {OURS_REPEATS} (ours) / {NAIVE_REPEATS} (naive) after a warm-up tick.",
            "Peak MiB: measure_peak of one tick in this process (RSS the tick adds; small numbers",
            "are near the page-allocation noise).",
            "",
            table(["tick", "files", "time", "run requests", "files taken", "peak MiB"], ticks),
            "",
            "Draining all N files with ours, tick after tick from an empty cursor (the last, empty",
            "tick included); 'same days' = ours' drained (dataset, day) pairs equal the naive's",
            table(
                ["files", "ticks", "run requests", "files taken", "total", "per tick", "same days"],
                drain,
            ),
            "",
            table(["files", "tick", "naive", "ours", "naive / ours"], compare),
            "",
            f"Target: a tick under {TARGET_S:.0f} s with 10,000 files in the landing zone",
            table(
                ["files", "ours first tick", "ours steady", "ours 1 new file", "naive steady"],
                target,
            ),
            "",
            *notes,
        ]
    )


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
