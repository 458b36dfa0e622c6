"""Benchmark: how long a fresh process takes to load the code location, vs. importing Dagster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import banner, median_and_min, table

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEAVY_MODULES = ("feast", "evidently", "mlflow", "xgboost", "sklearn")
TARGET_SECONDS = 1.0

IMPORT_DAGSTER = "import dagster, dagster_dbt"
LOAD_DEFS = "import mlops_assets.definitions as d; d.defs()"
HEAVY_CHECK = (
    f"{LOAD_DEFS}; import sys, json; "
    f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
)


@dataclass(frozen=True)
class Timing:
    label: str
    command: str
    times: tuple[float, ...]
    error: str | None = None


def _time_command(label: str, argv: Sequence[str], repeats: int, env: dict[str, str]) -> Timing:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - start
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return Timing(label, " ".join(argv), tuple(times), error=last)
        times.append(elapsed)
    return Timing(label, " ".join(argv), tuple(times))


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run(repeats: int, with_validate: bool) -> str:
    """Time each command in `repeats` fresh processes and return the table and the verdicts."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        # A throwaway instance and data folder, so loading never touches the project's own.
        env = {**os.environ, "DAGSTER_HOME": tmp, "MLOPS_DATA_DIR": str(Path(tmp) / "data")}
        commands = [
            ("(0) python startup", _python("pass")),
            ("(a) import dagster, dagster_dbt", _python(IMPORT_DAGSTER)),
            ("(b) load mlops_assets.definitions", _python(LOAD_DEFS)),
        ]
        if with_validate:
            dagster = str(Path(sys.executable).with_name("dagster"))
            commands.append(
                (
                    "(c) dagster definitions validate",
                    [dagster, "definitions", "validate", "-m", "mlops_assets.definitions"],
                )
            )
        timings = [_time_command(label, argv, repeats, env) for label, argv in commands]
        heavy = subprocess.run(
            _python(HEAVY_CHECK), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )

    headers = ["command", "median", "min", "error"]
    rows: list[list[object]] = []
    for t in timings:
        if t.error:
            rows.append([t.label, "failed", "failed", t.error[:80]])
            continue
        median, fastest = median_and_min(t.times)
        rows.append([t.label, f"{median:.2f} s", f"{fastest:.2f} s"])
    lines = [
        banner(f"Code-location load time: fresh processes, {repeats} runs each"),
        f"cwd {PROJECT_ROOT}; DAGSTER_HOME and MLOPS_DATA_DIR point at a throwaway folder.",
        "Wall time of the whole process (interpreter start included) from the parent.",
        "",
        table(headers, rows) if any(t.error for t in timings) else table(headers[:3], rows),
        "",
    ]
    by_label = {t.label[:3]: t for t in timings}
    a, b = by_label["(a)"], by_label["(b)"]
    if a.error or b.error:
        lines.append("(b) - (a): not measured, a command failed (see the table).")
    else:
        diff = median_and_min(b.times)[0] - median_and_min(a.times)[0]
        verdict = "within" if diff <= TARGET_SECONDS else "NOT within"
        lines.append(
            f"(b) - (a) = {diff:.2f} s (medians): {verdict} the {TARGET_SECONDS:.0f} s target."
        )
    if heavy.returncode:
        lines.append("Heavy modules after (b): not checked, loading failed.")
    else:
        loaded = json.loads(heavy.stdout.strip().splitlines()[-1])
        found = ", ".join(loaded) if loaded else "none"
        checked = ", ".join(HEAVY_MODULES)
        lines.append(f"Heavy modules in sys.modules after (b) ({checked}): {found}")
    return "\n".join(lines)
