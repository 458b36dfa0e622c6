"""Benchmark: the main job (`mlops-assets quickstart`) at 1 M and 10 M raw rows on the generator.

Issue 13. Each size runs the whole graph in a fresh process with a fresh data folder
(MLOPS_DATA_DIR) and a fresh Dagster instance (DAGSTER_HOME), over the same days; then this
process opens that instance and reads every run's step statistics (Dagster's STEP_START and
STEP_SUCCESS events) to split the time into stages. Raw rows are counted in the lake afterwards
(days x 24 hours x segments, segments = consumer types x 2 price areas).

    python bench/scale.py                      # 380 and 3,800 consumer types, 56 days
    python bench/scale.py --quick              # 4 and 20 consumer types, the fewest days allowed
    python bench/scale.py --sizes 380 --days 56 --json scale.json

Peak RSS is that of the whole process tree (the job and the dbt processes it starts): the sum of
the RSS of the job and all its descendants, sampled every SAMPLE_S seconds, and never less than
the largest single process's exact peak (ru_maxrss from wait4, what GNU `time -v` reports).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from common import banner, table

ROOT = Path(__file__).resolve().parent.parent  # the tree measured: its code runs the job
DEFAULT_SIZES = (380, 3800)  # consumer types per price area: 1.02 M and 10.2 M raw rows at 56 days
QUICK_SIZES = (4, 20)
DEFAULT_DAYS = 56
SAMPLE_S = 0.2
KIB = 1024
MIB = 1024 * 1024

# The targets, for the largest size against the smallest.
TARGET_SECONDS = 600.0  # 10 M raw rows, the whole graph
TARGET_PEAK_BYTES = 6e9  # 6 GB, read as 10^9 bytes (the stricter reading of "GB")
TARGET_TIME_RATIO = 11.0  # 10 M time / 1 M time
TARGET_SHARE_GROWTH = 2.0  # a stage's share of the total, largest size / smallest size
TARGET_ROWS = 10_000_000  # the size the time and memory targets are stated for

# Dagster step keys (asset or dbt op names) -> stages, first match wins; a step no rule matches
# is "other steps". The time outside every step (interpreter start, imports, loading the
# definitions, Dagster's run bookkeeping, the quickstart's final scoring) is "outside steps".
STAGE_RULES: tuple[tuple[str, str], ...] = (
    ("raw ingest", r"raw_.*"),  # raw_consumption, raw_weather, raw_weather_forecast
    ("dbt staging", r"staging.*"),  # the dbt ops: staging_models, staging_forecast_models
    ("feature registry", r"feature_registry"),  # Feast apply
    ("features", r"consumption_features"),
    ("online store", r"online_features"),
    ("training set", r"training_set"),
    ("training, gate, promotion", r"candidate_model|champion_model"),
    ("batch predictions", r"batch_predictions"),
    ("drift", r"drift_report"),
    ("performance", r"prediction_performance"),
)
OTHER_STEPS = "other steps"
OUTSIDE = "outside steps"
STAGES = (*(name for name, _ in STAGE_RULES), OTHER_STEPS, OUTSIDE)


def stage_of(step_key: str) -> str:
    """The stage a Dagster step belongs to, by its key."""
    for name, pattern in STAGE_RULES:
        if re.fullmatch(pattern, step_key):
            return name
    return OTHER_STEPS


# --- one size: the main job in a fresh process ----------------------------------------------------


@dataclass
class Measured:
    """One size's run, as this process saw it; crosses into the JSON as a dict."""

    consumer_types: int
    days: int
    end: str
    returncode: int
    wall_s: float
    peak_tree_bytes: int  # sampled sum over the process tree
    peak_single_bytes: int  # ru_maxrss of the largest single process (exact)
    peak_processes: int  # processes in the tree at the sampled peak
    raw_rows: int = 0
    segments: int = 0
    raw_days: int = 0
    job_s: float = 0.0  # first run's start to last run's end
    runs: list[dict[str, Any]] = field(default_factory=list)  # job, run id, status, seconds
    steps: list[dict[str, Any]] = field(default_factory=list)  # job, step key, status, seconds
    # (epoch seconds, summed RSS bytes) every SAMPLE_S; each step's peak_bytes is read from it
    timeline: list[tuple[float, int]] = field(default_factory=list)
    log: str = ""

    @property
    def peak_bytes(self) -> int:
        return max(self.peak_tree_bytes, self.peak_single_bytes)


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until told to stop."""

    def __init__(self, pid: int, interval: float = SAMPLE_S) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_bytes, self.peak_processes = 0, 0
        self.timeline: list[tuple[float, int]] = []  # (epoch seconds, summed RSS bytes)
        self._done = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for process in tree:
            with contextlib.suppress(psutil.Error):  # ended between listing and reading
                total += process.memory_info().rss
        self.timeline.append((time.time(), total))
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, len(tree)

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def child_env(base: Mapping[str, str], data_dir: Path, home: Path, types: int) -> dict[str, str]:
    """The job's environment: this tree's code, the venv's tools, defaults for every MLOPS_*
    setting except the data folder and the number of consumer types."""
    env = {k: v for k, v in base.items() if not k.startswith("MLOPS_")}
    env.update(
        MLOPS_DATA_DIR=str(data_dir),
        MLOPS_CONSUMER_TYPES=str(types),
        DAGSTER_HOME=str(home),
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [base.get("PYTHONPATH")])]),
        # dagster-dbt calls `dbt` by name: the one beside this Python, as the Makefile does.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")]),
    )
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the Makefile exports it
    return env


PROGRESS = re.compile(r"^(\[\d+/\d+\]|the main job|mlops-assets)")


def run_size(types: int, days: int, end: date, workdir: Path) -> Measured:
    """The main job over `days` days to `end` at `types` consumer types per price area."""
    data_dir, home = workdir / "data", workdir / "dagster_home"
    data_dir.mkdir(parents=True)
    home.mkdir()
    command = [
        sys.executable,
        "-m",
        "mlops_assets.cli",
        "quickstart",
        "--days",
        str(days),
        "--end",
        end.isoformat(),
    ]
    log_path = workdir / "quickstart.log"
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=child_env(os.environ, data_dir, home, types),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    assert process.stdout is not None
    with log_path.open("w") as log:
        for line in process.stdout:  # the child's log to a file, its progress lines to stderr
            log.write(line)
            if PROGRESS.match(line.strip()):
                print(f"  [{types} types] {line.strip()}", file=sys.stderr, flush=True)
    # wait4, not wait: its rusage is the child's, with the largest peak of its reaped descendants.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    maxrss_kib = usage.ru_maxrss // KIB if sys.platform == "darwin" else usage.ru_maxrss
    measured = Measured(
        consumer_types=types,
        days=days,
        end=end.isoformat(),
        returncode=process.returncode,
        wall_s=wall,
        peak_tree_bytes=sampler.peak_bytes,
        peak_single_bytes=maxrss_kib * KIB,
        peak_processes=sampler.peak_processes,
        timeline=sampler.timeline,
        log=str(log_path),
    )
    read_lake(measured, data_dir)
    read_instance(measured, home)
    return measured


def read_lake(measured: Measured, data_dir: Path) -> None:
    """Raw consumption rows, days and segments, counted in the lake the job wrote."""
    import polars as pl

    files = sorted((data_dir / "lake" / "raw_consumption").glob("day=*/data.parquet"))
    if not files:
        return
    counts = (
        pl.scan_parquet(files)
        .select(
            pl.len().alias("rows"),
            pl.struct("PriceArea", "ConsumerType_DE35").n_unique().alias("segments"),
        )
        .collect()
    )
    measured.raw_rows, measured.segments = int(counts["rows"][0]), int(counts["segments"][0])
    measured.raw_days = len(files)


def read_instance(measured: Measured, home: Path) -> None:
    """Every run of the fresh instance and the seconds of each of its steps (oldest first)."""
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            starts, ends = [], []
            for run in reversed(instance.get_runs()):
                stats = instance.get_run_stats(run.run_id)
                if stats.start_time is not None and stats.end_time is not None:
                    starts.append(stats.start_time)
                    ends.append(stats.end_time)
                measured.runs.append(
                    {
                        "job": run.job_name,
                        "run_id": run.run_id,
                        "status": run.status.value,
                        "seconds": _span(stats.start_time, stats.end_time),
                    }
                )
                for step in instance.get_run_step_stats(run.run_id):
                    measured.steps.append(
                        {
                            "job": run.job_name,
                            "step": step.step_key,
                            "status": step.status.value if step.status else "?",
                            "seconds": _span(step.start_time, step.end_time),
                            "peak_bytes": _peak_between(
                                measured.timeline, step.start_time, step.end_time
                            ),
                        }
                    )
            measured.job_s = max(ends) - min(starts) if starts else 0.0
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _peak_between(
    timeline: Sequence[tuple[float, int]], start: float | None, end: float | None
) -> int:
    """The largest sampled RSS from `start` to `end` (epoch seconds); 0 when unknown."""
    if start is None or end is None:
        return 0
    return max((rss for t, rss in timeline if start <= t <= end), default=0)


def _span(start: float | None, end: float | None) -> float:
    return end - start if start is not None and end is not None else 0.0


# --- reading the results --------------------------------------------------------------------------


def stage_seconds(steps: Iterable[Mapping[str, Any]], wall_s: float) -> dict[str, float]:
    """Seconds per stage, every stage present; `outside steps` is the wall time no step covers."""
    out = dict.fromkeys(STAGES, 0.0)
    for step in steps:
        out[stage_of(step["step"])] += step["seconds"]
    out[OUTSIDE] = max(wall_s - sum(out.values()), 0.0)
    return out


def stage_peaks(steps: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The largest sampled RSS of the process tree while a step of each stage ran (0: unknown)."""
    out = dict.fromkeys(STAGES, 0)
    for step in steps:
        stage = stage_of(step["step"])
        out[stage] = max(out[stage], step.get("peak_bytes", 0))
    return out


def shares(seconds: Mapping[str, float]) -> dict[str, float]:
    """Each stage's share of the total (the sum of the stages, i.e. the wall time)."""
    total = sum(seconds.values())
    return {k: (v / total if total else 0.0) for k, v in seconds.items()}


def share_growth(small: Mapping[str, float], large: Mapping[str, float]) -> dict[str, float | None]:
    """Large share / small share per stage; None where the small share is 0 (no ratio)."""
    return {k: (large[k] / small[k] if small[k] else None) for k in small}


@dataclass(frozen=True)
class Verdict:
    label: str
    value: float | None
    target: str
    met: bool

    @property
    def text(self) -> str:
        return "MET" if self.met else "NOT MET"


def verdicts(small: Mapping[str, Any], large: Mapping[str, Any]) -> list[Verdict]:
    """The issue's four targets, the largest size (`large`) against the smallest."""
    ratio = large["wall_s"] / small["wall_s"]
    growth = share_growth(small["shares"], large["shares"])
    out = [
        Verdict(
            f"time at {large['raw_rows']:,} raw rows",
            large["wall_s"],
            f"<= {TARGET_SECONDS:.0f} s",
            large["wall_s"] <= TARGET_SECONDS,
        ),
        Verdict(
            f"peak RSS at {large['raw_rows']:,} raw rows (GB)",
            large["peak_bytes"] / 1e9,
            f"<= {TARGET_PEAK_BYTES / 1e9:g} GB",
            large["peak_bytes"] <= TARGET_PEAK_BYTES,
        ),
        Verdict(
            f"time ratio {large['raw_rows']:,} / {small['raw_rows']:,} raw rows",
            ratio,
            f"<= {TARGET_TIME_RATIO:g}",
            ratio <= TARGET_TIME_RATIO,
        ),
    ]
    for stage, g in growth.items():
        if g is None and large["shares"][stage] == 0:
            continue  # a stage neither size has
        out.append(
            Verdict(
                f"share growth: {stage}",
                g,
                f"<= {TARGET_SHARE_GROWTH:g}",
                g is not None and g <= TARGET_SHARE_GROWTH,
            )
        )
    return out


def summarise(measured: Measured) -> dict[str, Any]:
    """A size's figures as they go into the JSON and the tables."""
    seconds = stage_seconds(measured.steps, measured.wall_s)
    out = asdict(measured)
    out.update(
        peak_bytes=measured.peak_bytes,
        stage_seconds=seconds,
        shares=shares(seconds),
        steps_s=sum(s["seconds"] for s in measured.steps),
        rows_per_s=measured.raw_rows / measured.wall_s if measured.wall_s else 0.0,
    )
    return out


def size_report(result: Mapping[str, Any]) -> str:
    peaks = stage_peaks(result["steps"])
    title = (
        f"{result['consumer_types']} consumer types: {result['raw_rows']:,} raw rows "
        f"({result['raw_days']} days x 24 h x {result['segments']:,} segments)"
    )
    lines = [
        banner(title),
        f"Time: {result['wall_s']:,.1f} s wall (the quickstart process, start to exit); "
        f"{result['job_s']:,.1f} s from the first run's start to the last run's end, "
        f"{result['steps_s']:,.1f} s in {len(result['steps'])} steps of "
        f"{len(result['runs'])} runs.",
        f"Peak RSS: {result['peak_bytes'] / MIB:,.0f} MiB ({result['peak_bytes'] / 1e9:.2f} GB) "
        f"(process tree, sampled: {result['peak_tree_bytes'] / MIB:,.0f} MiB over "
        f"{result['peak_processes']} processes; largest single process: "
        f"{result['peak_single_bytes'] / MIB:,.0f} MiB).",
        f"Throughput: {result['rows_per_s']:,.0f} raw rows per second of wall time.",
        "",
        table(
            ["stage", "seconds", "share %", "peak MiB"],
            [
                [
                    stage,
                    round(result["stage_seconds"][stage], 1),
                    100 * result["shares"][stage],
                    round(peaks[stage] / MIB) if peaks[stage] else "-",
                ]
                for stage in STAGES
                if result["stage_seconds"][stage] or stage != OTHER_STEPS
            ]
            + [["total", round(result["wall_s"], 1), 100.0, round(result["peak_bytes"] / MIB)]],
        ),
        "",
        table(
            ["job", "step", "stage", "seconds", "peak MiB"],
            [
                [
                    s["job"],
                    s["step"],
                    stage_of(s["step"]),
                    round(s["seconds"], 1),
                    round(s.get("peak_bytes", 0) / MIB) or "-",
                ]
                for s in result["steps"]
            ],
        ),
    ]
    return "\n".join(lines)


def comparison(small: Mapping[str, Any], large: Mapping[str, Any]) -> str:
    growth = share_growth(small["shares"], large["shares"])
    stage_rows = [
        [
            stage,
            round(small["stage_seconds"][stage], 1),
            round(large["stage_seconds"][stage], 1),
            _ratio(small["stage_seconds"][stage], large["stage_seconds"][stage]),
            100 * small["shares"][stage],
            100 * large["shares"][stage],
            "-" if growth[stage] is None else growth[stage],
        ]
        for stage in STAGES
        if small["stage_seconds"][stage] or large["stage_seconds"][stage]
    ]
    total = [
        "total",
        round(small["wall_s"], 1),
        round(large["wall_s"], 1),
        _ratio(small["wall_s"], large["wall_s"]),
        100.0,
        100.0,
        "",
    ]
    a, b = rows_label(small["raw_rows"]), rows_label(large["raw_rows"])
    checks = verdicts(small, large)
    lines = [
        banner(f"Scaling: {b} raw rows against {a}"),
        f"Raw rows x{large['raw_rows'] / small['raw_rows']:.3g}; time x"
        f"{large['wall_s'] / small['wall_s']:.3g}; peak RSS x"
        f"{large['peak_bytes'] / small['peak_bytes']:.3g}; rows per second "
        f"{small['rows_per_s']:,.0f} -> {large['rows_per_s']:,.0f}.",
        "",
        table(
            ["stage", f"s at {a}", f"s at {b}", "x", f"share % {a}", f"share % {b}", "share x"],
            [*stage_rows, total],
        ),
        "",
        table(
            ["target", "measured", "target", "verdict"],
            [[v.label, "-" if v.value is None else v.value, v.target, v.text] for v in checks],
        ),
    ]
    if large["raw_rows"] < TARGET_ROWS:
        lines.append(
            f"(The time and memory targets are stated for {TARGET_ROWS / 1e6:g} M raw rows; the "
            f"largest size here has {large['raw_rows']:,}.)"
        )
    failed = [v.label for v in checks if not v.met]
    lines.append(f"Verdict: {'NOT MET: ' + '; '.join(failed) if failed else 'all targets MET'}.")
    return "\n".join(lines)


def rows_label(rows: int) -> str:
    """1.02 M, or the exact count below a million."""
    return f"{rows / 1e6:.3g} M" if rows >= 1_000_000 else f"{rows:,}"


def _ratio(small: float, large: float) -> float | str:
    return large / small if small else "-"


def environment(sizes: Sequence[int], days: int, end: date) -> list[str]:
    import dagster
    import polars as pl
    import xgboost

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"

    edited = git("status", "--porcelain", "--", "mlops_assets", "dbt_project")
    commit = git("rev-parse", "--short", "HEAD")
    ignored = sorted(k for k in os.environ if k.startswith("MLOPS_"))
    first = end - timedelta(days=days - 1)
    return [
        f"Command: {shlex.join(['python', *sys.argv])}",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit}"
        f"{' with uncommitted changes to mlops_assets/ or dbt_project/' if edited else ''}; "
        f"code measured: {ROOT}.",
        f"Python {platform.python_version()}, dagster {dagster.__version__}, polars "
        f"{pl.__version__}, xgboost {xgboost.__version__}, {os.cpu_count()} CPUs, "
        f"{_memory_gib():.0f} GiB, {platform.system()} {platform.machine()}; load average at the "
        f"start {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        f"Protocol: per size, `python -m mlops_assets.cli quickstart --days {days} --end {end}` "
        f"({first} .. {end}) with MLOPS_CONSUMER_TYPES = {', '.join(map(str, sizes))} (x 2 price "
        "areas), each in a fresh process with a fresh MLOPS_DATA_DIR and DAGSTER_HOME, every other "
        "MLOPS_* setting at its default"
        f"{' (ignored here: ' + ', '.join(ignored) + ')' if ignored else ''}. Stage seconds from "
        "each run's step statistics (STEP_START to STEP_SUCCESS events); 'outside steps' = wall "
        "time minus all steps. Peak RSS: the larger of the process tree's summed RSS (the job and "
        f"its dbt subprocesses, sampled every {SAMPLE_S:g} s) and the largest single process's "
        "ru_maxrss (wait4).",
        f"Targets: at {TARGET_ROWS / 1e6:g} M raw rows <= {TARGET_SECONDS:.0f} s and peak RSS <= "
        f"{TARGET_PEAK_BYTES / 1e9:g} GB (10^9 bytes); time at 10 M <= {TARGET_TIME_RATIO:g}x the "
        f"time at 1 M; no stage's share of the total grows by more than {TARGET_SHARE_GROWTH:g}x.",
    ]


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def minimum_days() -> int:
    """The fewest days the quickstart accepts with its default held-out week."""
    from mlops_assets.pipeline import HOLDOUT_DAYS, MIN_TRAINING_DAYS

    return MIN_TRAINING_DAYS + HOLDOUT_DAYS + 1


def report(results: Sequence[Mapping[str, Any]], sizes_too: bool = True) -> list[dict] | None:
    """Print each size (when `sizes_too`) and the largest against the smallest; the verdicts."""
    if sizes_too:
        for result in results:
            print(size_report(result))
    ordered = sorted(results, key=lambda r: r["raw_rows"])
    if len(ordered) < 2 or not ordered[0]["raw_rows"] or not ordered[0]["wall_s"]:
        return None
    small, large = ordered[0], ordered[-1]
    print(comparison(small, large))
    return [asdict(v) | {"verdict": v.text} for v in verdicts(small, large)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        metavar="N",
        help=f"consumer types per price area (default: {' '.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--days", type=int, help=f"days of history (default {DEFAULT_DAYS})")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=datetime.now(UTC).date() - timedelta(days=1),
        help="last day, the same for every size (default: yesterday, UTC)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {' and '.join(map(str, QUICK_SIZES))} consumer types, the fewest days",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--from-json", type=Path, help="print the report of a saved --json file; run nothing"
    )
    parser.add_argument("--keep", action="store_true", help="keep each size's data and instance")
    parser.add_argument(
        "--workdir", type=Path, help="where each size's temporary folder goes (default: TMPDIR)"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        print("\n".join(saved["header"]))
        report(saved["sizes"])
        print(f"\nTotal: {saved['total_s']:.0f} s")
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    days = args.days or (minimum_days() if args.quick else DEFAULT_DAYS)

    started = time.perf_counter()
    header = environment(sizes, days, args.end)
    print("\n".join(header), flush=True)
    results = []
    for types in sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"mlops_scale_{types}_", dir=args.workdir))
        print(f"running {types} consumer types in {workdir} ...", file=sys.stderr, flush=True)
        try:
            measured = run_size(types, days, args.end, workdir)
            if measured.returncode:
                tail = Path(measured.log).read_text().splitlines()[-40:]
                print("\n".join(tail), file=sys.stderr)
                print(
                    f"the main job failed at {types} consumer types (exit "
                    f"{measured.returncode}); log: {measured.log}",
                    file=sys.stderr,
                )
                args.keep = True
                return 1
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
                measured.log = ""
        results.append(summarise(measured))
        print(size_report(results[-1]), flush=True)
    compared = report(results, sizes_too=False)
    total = time.perf_counter() - started
    print(f"\nTotal: {total:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"header": header, "sizes": results, "verdicts": compared, "total_s": total},
                indent=1,
            )
        )
        print(f"Results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
