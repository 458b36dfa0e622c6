"""The decisions behind the sensors, as plain functions: which landing files are new, which days
have all their inputs, and when drift or realised error calls for retraining. No Dagster here."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from mlops_assets.lib.landing_zone import FILE_NAME, arrival_ns

DATASETS = ("consumption", "weather", "weather_forecast")


@dataclass(frozen=True, order=True)
class Watermark:
    """Files are ordered by (arrival time, name); everything up to the mark was handled. Arrival
    is the later of mtime and ctime, so a file moved in with an old mtime still comes after."""

    mtime_ns: int = -1
    name: str = ""

    def encode(self) -> str:
        return f"{self.mtime_ns}:{self.name}"

    @classmethod
    def decode(cls, cursor: str | None) -> Watermark:
        if not cursor:
            return cls()
        mtime, _, name = cursor.partition(":")
        return cls(int(mtime), name)


@dataclass(frozen=True)
class Landed:
    dataset: str
    day: date
    name: str
    mark: Watermark


@dataclass
class LandingBatch:
    """What one sensor tick takes from the landing zone."""

    files: list[Landed] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)
    watermark: Watermark = field(default_factory=Watermark)
    remaining: int = 0  # new files left for the next tick

    def ranges(self, max_days: int) -> dict[str, list[tuple[date, date]]]:
        by_dataset: dict[str, set[date]] = {}
        for f in self.files:
            by_dataset.setdefault(f.dataset, set()).add(f.day)
        return {ds: day_ranges(days, max_days) for ds, days in sorted(by_dataset.items())}


def day_ranges(days: Iterable[date], max_days: int) -> list[tuple[date, date]]:
    """Contiguous runs of days, each at most `max_days` long: one run request per range."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges:
            first, last = ranges[-1]
            if day == last + timedelta(days=1) and (day - first).days < max_days:
                ranges[-1] = (first, day)
                continue
        ranges.append((day, day))
    return ranges


def scan_landing(
    entries: Iterable[tuple[str, int]],
    after: Watermark,
    *,
    datasets: Sequence[str] = DATASETS,
    max_runs: int,
    max_days_per_run: int,
) -> LandingBatch:
    """New files after the watermark, oldest first, taken until the runs they need would exceed
    `max_runs`; names that break the naming rule are skipped with a reason, never fatal."""
    # Plain (mtime, name) tuples order exactly like Watermark and cost far less on every tick.
    last = (after.mtime_ns, after.name)
    new = sorted((mtime, name) for name, mtime in entries if (mtime, name) > last)
    batch = LandingBatch(watermark=after)
    days: dict[str, set[date]] = {}
    runs: dict[str, int] = {}  # run requests each dataset's days need so far
    for index, (mtime, name) in enumerate(new):
        mark = Watermark(mtime, name)
        match = FILE_NAME.match(name)
        reason = None
        if match is None:
            reason = "name does not follow <dataset>_<YYYY-MM-DD>[_<tag>].<csv|parquet|json>"
        elif match["dataset"] not in datasets:
            reason = f"unknown dataset {match['dataset']!r}; expected one of {list(datasets)}"
        else:
            try:
                day = date.fromisoformat(match["day"])
            except ValueError:
                reason = f"{match['day']!r} is not a date"
        if reason:
            batch.skipped.append((name, reason))
            batch.watermark = mark
            continue
        dataset = match["dataset"]  # type: ignore[index]
        with_day = days.get(dataset, set()) | {day}
        needed = len(day_ranges(with_day, max_days_per_run))
        if sum(runs.values()) - runs.get(dataset, 0) + needed > max_runs:
            batch.remaining = len(new) - index
            break
        days[dataset], runs[dataset] = with_day, needed
        batch.files.append(Landed(dataset, day, name, mark))
        batch.watermark = mark
    return batch


def list_landing(
    landing_dir: Path, settle_seconds: float = 0.0, now_ns: int | None = None
) -> list[tuple[str, int]]:
    """(name, arrival time) of the landing entries: one scandir, nothing followed or read.
    Arrival is the later of mtime and ctime (`landing_zone.arrival_ns`): `mv`, `cp -p` or
    `rsync -t` keep an old mtime, but the inode change time says when it entered the folder.
    Entries that arrived less than `settle_seconds` before `now_ns` are left out: every listed
    arrival is older than every unlisted one, so the watermark stays below the unsettled files
    and a later tick sees them. Non-regular entries (links, folders, FIFOs) are listed only when
    named like landing files, so that ingestion quarantines them."""
    if not landing_dir.exists():
        return []
    now_ns = time.time_ns() if now_ns is None else now_ns
    cutoff = now_ns - int(settle_seconds * 1e9) if settle_seconds > 0 else None
    listed = []
    with os.scandir(landing_dir) as entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # moved away since the scan saw it
            if not stat.S_ISREG(st.st_mode) and not FILE_NAME.match(entry.name):
                continue
            arrival = arrival_ns(st, now_ns)
            if cutoff is None or arrival <= cutoff:
                listed.append((entry.name, arrival))
    return listed


# A process that started this long after the run worker reported its pid has taken over the
# number after the worker died (covers the one-second resolution of the boot time).
PID_REUSE_SLACK_S = 5.0


def dead_run_reason(
    worker_pid: int | None, worker_running: bool | None, silent_s: float, stale_after_s: float
) -> str | None:
    """Why a STARTED run can no longer finish, or None while it may. A run worker this host can
    see is judged by its process alone, so a long quiet step is never cut short; one it cannot
    see (a pod elsewhere, no pid reported yet) is dead after `stale_after_s` of silence."""
    if worker_running is False:
        return f"its run worker (pid {worker_pid}) is gone"
    if worker_running is None and stale_after_s > 0 and silent_s >= stale_after_s:
        return (
            f"it has written no event for {silent_s:.0f} s, the limit "
            f"MLOPS_TRAINING_STALE_AFTER_S is {stale_after_s:.0f} s"
        )
    return None


def process_running(pid: int, reported_at: float) -> bool | None:
    """Whether the run worker `pid`, which reported its pid at `reported_at` (epoch seconds), is
    still running on this host; None where that cannot be told (Windows)."""
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) sends CTRL_C_EVENT there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc (macOS): existence is all there is to know
    state, started_at = stat
    if state in ("Z", "X"):
        return False  # killed, not yet reaped: a container may have no init to reap orphans
    return started_at <= reported_at + PID_REUSE_SLACK_S


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """A process's state letter and start time (epoch seconds) from /proc (see proc(5))."""
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ("X", 0.0)  # gone since os.kill looked
    except OSError:
        return None
    # The command name may hold spaces and parentheses: count fields after its last ")".
    fields = text.rpartition(")")[2].split()
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def ready_days(inputs: Mapping[str, Mapping[str, int]], done: Mapping[str, int]) -> dict[str, int]:
    """Days (partition keys) whose every input is materialized and newer than the day's
    downstream: {day: newest input storage id}. A late input makes its day ready again."""
    keys = set.intersection(*(set(ids) for ids in inputs.values())) if inputs else set()
    ready = {}
    for day in keys:
        newest = max(ids[day] for ids in inputs.values())
        if newest > done.get(day, -1):
            ready[day] = newest
    return dict(sorted(ready.items()))


def window_inputs(ids: Mapping[str, int], windows: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """An input read over a window of upstream partitions, keyed by the day that reads it:
    {day: newest storage id in the day's window}, for the days whose window ends on a
    materialized partition. `windows` gives each day's upstream keys, oldest first (for a
    forecast day D the staged actuals D-15 .. D-1). Only the newest one is required: the first
    days of a calendar have a shorter history. A correction of one upstream day makes every day
    whose window holds it newer, so `ready_days` runs them all again."""
    newest: dict[str, int] = {}
    for day, window in windows.items():
        if window and window[-1] in ids:
            newest[day] = max(ids[k] for k in window if k in ids)
    return newest


@dataclass(frozen=True)
class Trigger:
    reason: str
    tags: dict[str, str]


def drift_trigger(
    day: str, share: float, columns: Sequence[str], threshold: float
) -> Trigger | None:
    """Retrain when the share of drifted monitored columns reaches the threshold."""
    if share < threshold:
        return None
    return Trigger(
        reason=f"drift share {share:.2f} >= {threshold:.2f} on {day} ({', '.join(columns)})",
        tags={
            "trigger": "drift",
            "drift_partition": day,
            "drift_share": f"{share:.3f}",
            "drift_threshold": f"{threshold:.3f}",
            "drifted_columns": ",".join(columns)[:200],
        },
    )


def performance_trigger(
    daily_wape: Sequence[tuple[str, float]], threshold: float, consecutive_days: int
) -> Trigger | None:
    """Retrain when the champion's realised daily WAPE (%, sum |error| / sum actual over all
    segments, the gate's metric) exceeded the threshold on each of the last `consecutive_days`
    days (in partition order, no gaps)."""
    recent = sorted(daily_wape)[-consecutive_days:]
    if len(recent) < consecutive_days:
        return None
    days = [date.fromisoformat(d) for d, _ in recent]
    if (days[-1] - days[0]).days != consecutive_days - 1:
        return None
    if not all(wape > threshold for _, wape in recent):
        return None
    values = ", ".join(f"{d} {w:.1f}%" for d, w in recent)
    return Trigger(
        reason=f"champion WAPE above {threshold:.1f}% for {consecutive_days} days: {values}",
        tags={
            "trigger": "performance",
            "wape_threshold": f"{threshold:.2f}",
            "consecutive_days": str(consecutive_days),
            "wape_by_day": values[:200],
            "last_partition": recent[-1][0],
        },
    )
