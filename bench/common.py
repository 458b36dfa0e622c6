"""Timing, peak-memory and table helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_KIB = 1024


def best_of(
    run: Callable[[], object], repeats: int, setup: Callable[[], object] | None = None
) -> float:
    """The fastest of `repeats` calls of `run`, in seconds; `setup` runs untimed before each."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def median_and_min(times: Sequence[float]) -> tuple[float, float]:
    return statistics.median(times), min(times)


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def can_reset_peak() -> bool:
    """Whether this kernel lets a process reset its own peak RSS (Linux >= 4.0)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _STATUS.exists()


PEAK_METHOD_RESET = (
    "peak RSS above the RSS just before the call (VmHWM after resetting it through "
    "/proc/self/clear_refs)"
)
PEAK_METHOD_MAXRSS = "ru_maxrss after the call minus ru_maxrss before it (a lower bound)"


def measure_peak(run: Callable[[], object]) -> tuple[float, str]:
    """Peak resident memory `run` adds over the process's current RSS, in MiB, and the method."""
    if can_reset_peak():
        before = _status_kib("VmRSS")
        _CLEAR_REFS.write_text("5")
        run()
        return (_status_kib("VmHWM") - before) / _KIB, PEAK_METHOD_RESET
    before = _maxrss_kib()
    run()
    return (_maxrss_kib() - before) / _KIB, PEAK_METHOD_MAXRSS


def _maxrss_kib() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage // _KIB if sys.platform == "darwin" else usage  # bytes on macOS, KiB on Linux


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(headers), *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        pairs = zip(row, widths, strict=True)
        parts = [v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(pairs)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *[line(r) for r in cells[1:]]])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def seconds(value: float) -> str:
    """A duration with 3 significant digits, in s or ms."""
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def banner(title: str) -> str:
    return f"\n{title}\n{'=' * len(title)}"
