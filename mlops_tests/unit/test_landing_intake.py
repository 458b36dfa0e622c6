"""Safe intake from the landing zone: only settled regular files are read; links, folders and
FIFOs are quarantined as they are; messages and reason files stay small; quarantine never
overwrites or loses a file, across devices and with two runs at once."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib import landing_zone, triggers
from mlops_assets.lib.generator import GeneratorConfig, generate_consumption
from mlops_assets.lib.ingest import IngestPolicy, ingest_day, table_name
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing_zone import (
    ECHO_LIMIT,
    LandingFile,
    UnreadableFileError,
    landing_path,
    quarantine,
    write_file,
)
from mlops_assets.lib.schema import CONSUMPTION
from mlops_assets.lib.sources import Delivery, _from_landing
from mlops_assets.lib.validation import SCHEMA, VALIDITY, Limits, ValidationReport, Violation

DAY = date(2025, 1, 10)
NAME = "consumption_2025-01-10.csv"
SECRET = "the-secret-content-of-a-file-outside-the-landing-zone"
KIB = 1024


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def quarantine_dir(tmp_path: Path) -> Path:
    return tmp_path / "quarantine"


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def policy(quarantine_dir: Path) -> IngestPolicy:
    return IngestPolicy(limits=Limits(), price_areas=("DK1", "DK2"), quarantine_dir=quarantine_dir)


def consumption() -> pl.DataFrame:
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    return generate_consumption(start, start + timedelta(days=1), GeneratorConfig())


def take(landing: Path, settle_seconds: float = 0.0, now: float | None = None) -> list[Delivery]:
    return _from_landing(landing, CONSUMPTION, DAY, settle_seconds, now)


def rejection() -> ValidationReport:
    violation = Violation(VALIDITY, "TotalCon", "3 rows: value is negative", 3, ("-1.0",))
    return ValidationReport("consumption", DAY, "a test", (violation,))


def landing_file(path: Path) -> LandingFile:
    parsed = LandingFile.parse(path)
    assert parsed is not None
    return parsed


def reason_texts(folder: Path) -> str:
    return "".join(p.read_text() for p in sorted(folder.rglob("*.reason.*")))


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- links, folders and FIFOs are never opened nor followed ---------------------------------------


def good_file_elsewhere(tmp_path: Path) -> Path:
    return write_file(consumption(), tmp_path / "elsewhere" / NAME)


def link_inside(landing: Path, tmp_path: Path) -> Path:
    target = write_file(consumption(), landing / ".held" / NAME)  # a good file, inside the zone
    (landing / NAME).symlink_to(target)
    return target


def link_outside(landing: Path, tmp_path: Path) -> Path:
    target = tmp_path / "outside" / "secret.txt"
    target.parent.mkdir()
    target.write_text(SECRET)
    (landing / NAME).symlink_to(target)
    return target


def dangling_link(landing: Path, tmp_path: Path) -> Path:
    target = tmp_path / "nowhere" / NAME
    (landing / NAME).symlink_to(target)
    return target


def folder_named_like_a_file(landing: Path, tmp_path: Path) -> Path:
    inner = write_file(consumption(), landing / NAME / "inner.csv")
    return inner


def fifo(landing: Path, tmp_path: Path) -> Path:
    os.mkfifo(landing / NAME)
    return landing / NAME


ENTRIES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "link inside the zone": (link_inside, "is a symbolic link (to "),
    "link outside the zone": (link_outside, "is a symbolic link (to "),
    "dangling link": (dangling_link, "is a symbolic link (to "),
    "directory": (folder_named_like_a_file, "is not a regular file (a directory)"),
    "FIFO": (fifo, "is not a regular file (a FIFO)"),
}


@pytest.mark.parametrize("case", ENTRIES)
def test_a_non_regular_entry_is_refused_without_opening_it(
    case: str, landing: Path, tmp_path: Path
) -> None:
    make, message = ENTRIES[case]
    make(landing, tmp_path)

    # A FIFO opened for reading would block here forever: returning at all shows it is not.
    started = time.monotonic()
    (delivery,) = take(landing, settle_seconds=10.0)

    assert time.monotonic() - started < 5
    assert delivery.frame is None and delivery.pending is None
    assert delivery.read_error is not None and message in delivery.read_error
    assert "landing files must be regular files" in delivery.read_error
    assert delivery.origin == str(landing / NAME)
    assert delivery.landing_file == landing_file(landing / NAME)
    assert SECRET not in delivery.read_error


@pytest.mark.parametrize("case", ENTRIES)
def test_a_non_regular_entry_is_quarantined_as_it_is_and_the_lake_kept(
    case: str, landing: Path, tmp_path: Path, lake: Lake, policy: IngestPolicy
) -> None:
    good = ingest_day(CONSUMPTION, DAY, [Delivery("generator", consumption())], lake, policy)
    assert good.accepted and good.path is not None
    lake_bytes = good.path.read_bytes()
    make, _ = ENTRIES[case]
    target = make(landing, tmp_path)
    was_link = (landing / NAME).is_symlink()
    linked = was_link and target.is_file()
    target_before = (target.read_bytes(), target.stat().st_mtime_ns) if linked else None

    result = ingest_day(CONSUMPTION, DAY, take(landing), lake, policy)

    assert not result.accepted
    assert result.report.failed_rules() == [SCHEMA]
    assert str(landing / NAME) in result.report.violations[0].message
    assert good.path.read_bytes() == lake_bytes
    assert not os.path.lexists(landing / NAME)
    (held,) = result.quarantined
    assert held == policy.quarantine_dir / "consumption" / DAY.isoformat() / NAME
    assert held.is_symlink() == was_link
    if was_link:
        assert os.readlink(held) == str(target)
    if target_before is not None:
        assert (target.read_bytes(), target.stat().st_mtime_ns) == target_before
    details = json.loads(Path(f"{held}.reason.json").read_text())
    assert details["failed_rules"] == [SCHEMA]
    assert details["kind"] == landing_zone.kind_of(os.lstat(held).st_mode)
    assert "moved as it is" in Path(f"{held}.reason.txt").read_text()
    assert SECRET not in reason_texts(policy.quarantine_dir)


def test_the_system_hostname_never_reaches_a_reason_file(
    landing: Path, lake: Lake, policy: IngestPolicy
) -> None:
    hostname = Path("/etc/hostname")
    if not hostname.is_file() or not hostname.read_text().strip():
        pytest.skip("no /etc/hostname here")
    content = hostname.read_text().strip()
    (landing / NAME).symlink_to(hostname)

    result = ingest_day(CONSUMPTION, DAY, take(landing), lake, policy)

    (held,) = result.quarantined
    assert os.readlink(held) == str(hostname)
    assert hostname.read_text().strip() == content
    reasons = reason_texts(policy.quarantine_dir)
    for known in (str(landing.parent), str(hostname)):  # paths the reasons name
        reasons = reasons.replace(known, "")
    assert content not in reasons


def test_read_never_blocks_on_a_fifo_nor_follows_a_link(landing: Path, tmp_path: Path) -> None:
    # The guard behind the checks: a FIFO or link swapped in after them still is not read.
    os.mkfifo(landing / NAME)
    with pytest.raises(UnreadableFileError, match=r"not a regular file \(a FIFO\)"):
        landing_file(landing / NAME).read()
    link = landing / "consumption_2025-01-10_b.csv"
    link.symlink_to(good_file_elsewhere(tmp_path))
    with pytest.raises(UnreadableFileError, match="symbolic link"):
        landing_file(link).read()


def test_a_path_resolving_outside_the_landing_folder_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write_file(consumption(), real / NAME)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    assert landing_file(real / NAME).refusal(real) is None
    assert "outside the landing folder" in (landing_file(real / NAME).refusal(elsewhere) or "")


# --- a file is taken once it has settled ----------------------------------------------------------


def test_a_fresh_file_is_pending_and_not_read_until_it_settles(landing: Path) -> None:
    (landing / NAME).write_text("HourUTC,Price")  # half-written: read now, it would be rejected
    now = time.time()

    (delivery,) = take(landing, settle_seconds=10.0, now=now)

    assert delivery.pending is not None
    assert delivery.read_error is None and delivery.frame is None
    assert delivery.pending.startswith(f"{NAME} is still being written: last changed ")
    assert "taken once unchanged for 10 s (MLOPS_LANDING_SETTLE_SECONDS)" in delivery.pending
    assert delivery.landing_file == landing_file(landing / NAME)

    # An old modification time does not make it settled: the change time counts too.
    os.utime(landing / NAME, (now - 3600, now - 3600))
    (still,) = take(landing, settle_seconds=10.0, now=time.time())
    assert still.pending is not None

    write_file(consumption(), landing / NAME)
    (taken,) = take(landing, settle_seconds=10.0, now=time.time() + 10.5)
    assert taken.pending is None and taken.read_error is None
    assert taken.frame is not None and taken.frame.height == consumption().height


def test_a_file_moved_in_with_an_old_mtime_is_pending_then_taken(
    landing: Path, tmp_path: Path
) -> None:
    written = good_file_elsewhere(tmp_path)
    os.utime(written, (1_600_000_000, 1_600_000_000))
    written.rename(landing / NAME)  # `mv` keeps the mtime; the rename sets the ctime

    (waiting,) = take(landing, settle_seconds=10.0)
    (taken,) = take(landing, settle_seconds=10.0, now=time.time() + 11)

    assert waiting.pending is not None and waiting.frame is None
    assert taken.frame is not None


def test_without_a_settle_time_a_fresh_file_is_taken_at_once(landing: Path) -> None:
    write_file(consumption(), landing / NAME)

    (delivery,) = take(landing, settle_seconds=0.0)

    assert delivery.pending is None and delivery.frame is not None


def test_files_named_against_the_rule_are_not_taken(landing: Path) -> None:
    for name in (f".{NAME}", f"{NAME}.part"):
        write_file(consumption(), landing / "writing.csv").rename(landing / name)

    assert take(landing) == []


# --- the push sensor ------------------------------------------------------------------------------


def test_the_sensor_sees_a_file_moved_in_with_an_old_mtime(landing: Path, tmp_path: Path) -> None:
    (landing / "weather_2025-03-01.csv").write_text("HourUTC\n")
    first = triggers.scan_landing(
        triggers.list_landing(landing), triggers.Watermark(), max_runs=8, max_days_per_run=31
    )
    moved = tmp_path / "outbox" / "consumption_2025-03-01.csv"
    moved.parent.mkdir()
    moved.write_text("HourUTC\n")
    os.utime(moved, (1_600_000_000, 1_600_000_000))
    moved.rename(landing / moved.name)

    second = triggers.scan_landing(
        triggers.list_landing(landing), first.watermark, max_runs=8, max_days_per_run=31
    )

    assert [f.name for f in second.files] == ["consumption_2025-03-01.csv"]


def test_the_sensor_waits_for_unsettled_files_without_passing_them(landing: Path) -> None:
    settled, fresh = landing / "weather_2025-03-01.csv", landing / "consumption_2025-03-02.csv"
    settled.write_text("HourUTC\n")
    time.sleep(0.05)  # past the file system's timestamp granularity
    fresh.write_text("HourUTC\n")
    settled_at = landing_zone.arrival_ns(os.lstat(settled), time.time_ns())
    fresh_at = landing_zone.arrival_ns(os.lstat(fresh), time.time_ns())
    assert settled_at < fresh_at
    settle_ns = 10 * 1_000_000_000

    def tick(after: triggers.Watermark, now_ns: int) -> triggers.LandingBatch:
        entries = triggers.list_landing(landing, 10.0, now_ns=now_ns)
        return triggers.scan_landing(entries, after, max_runs=8, max_days_per_run=31)

    first = tick(triggers.Watermark(), settled_at + settle_ns)
    assert [f.name for f in first.files] == [settled.name]
    assert first.watermark < triggers.Watermark(fresh_at, fresh.name)

    second = tick(first.watermark, fresh_at + settle_ns)
    assert [f.name for f in second.files] == [fresh.name]

    assert tick(second.watermark, fresh_at + 2 * settle_ns).files == []


def test_the_sensor_lists_entries_named_like_files_and_nothing_else_it_cannot_read(
    landing: Path, tmp_path: Path
) -> None:
    (landing / NAME).symlink_to(tmp_path / "nowhere")
    os.mkfifo(landing / "weather_2025-01-10.csv")
    (landing / "outbox").mkdir()
    (landing / "notes.txt").write_text("a regular file, skipped later with a reason")

    names = sorted(name for name, _ in triggers.list_landing(landing))

    assert names == [NAME, "notes.txt", "weather_2025-01-10.csv"]


# --- messages and reason files stay small ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("consumption_2025-01-10.csv", b"A" * 5_000_000),  # one header line of garbage
        ("consumption_2025-01-10.csv", b"a;b\n1,5;" + b"9" * 5_000_000 + b"\n"),
        ("consumption_2025-01-10.json", b"[" * 200_000),  # deeper than the JSON parser goes
        ("consumption_2025-01-10.json", b'{"records": [' + b"x" * 5_000_000),
        ("consumption_2025-01-10.parquet", b"PAR1" + b"x" * 5_000_000),
    ],
)
def test_a_huge_garbage_file_leaves_small_messages_and_reason_files(
    name: str, content: bytes, landing: Path, lake: Lake, policy: IngestPolicy
) -> None:
    (landing / name).write_bytes(content)

    (delivery,) = take(landing)
    result = ingest_day(CONSUMPTION, DAY, [delivery], lake, policy)

    assert delivery.read_error is not None
    assert len(delivery.read_error) < ECHO_LIMIT + 200
    assert len(result.report.describe()) < 2 * KIB
    (held,) = result.quarantined
    assert held.read_bytes() == content
    for suffix in (".reason.json", ".reason.txt"):
        assert Path(f"{held}{suffix}").stat().st_size < 70 * KIB
    assert "9" * (ECHO_LIMIT + 1) not in reason_texts(policy.quarantine_dir)
    assert "A" * (ECHO_LIMIT + 1) not in reason_texts(policy.quarantine_dir)


def test_reason_files_are_capped_however_long_the_report(
    landing: Path, quarantine_dir: Path
) -> None:
    (landing / NAME).write_text("x")
    huge = [Violation(VALIDITY, "TotalCon", "y" * 100_000, 1, ("z" * 100_000,))] * 50
    report = ValidationReport("consumption", DAY, "a test", tuple(huge))

    held = quarantine(landing_file(landing / NAME), quarantine_dir, report)

    assert held is not None
    for suffix in (".reason.json", ".reason.txt"):
        assert Path(f"{held}{suffix}").stat().st_size < 70 * KIB
    details = json.loads(Path(f"{held}.reason.json").read_text())
    assert details["violations_cut"] + len(details["violations"]) == 50
    assert "characters cut" in Path(f"{held}.reason.txt").read_text()


# --- quarantine never overwrites nor loses a file -------------------------------------------------


def test_an_earlier_quarantined_file_of_the_same_name_is_kept_byte_identical(
    landing: Path, quarantine_dir: Path
) -> None:
    folder = quarantine_dir / "consumption" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / NAME).write_bytes(b"earlier delivery")
    (folder / f"{NAME}.reason.txt").write_text("earlier reason")
    # A reason left without its file still blocks the name it belongs to.
    (folder / "consumption_2025-01-10.1.csv.reason.json").write_text("{}")
    (landing / NAME).write_bytes(b"new delivery")

    held = quarantine(landing_file(landing / NAME), quarantine_dir, rejection())

    assert held == folder / "consumption_2025-01-10.2.csv"
    assert held.read_bytes() == b"new delivery"
    assert (folder / NAME).read_bytes() == b"earlier delivery"
    assert (folder / f"{NAME}.reason.txt").read_text() == "earlier reason"
    assert (folder / "consumption_2025-01-10.1.csv.reason.json").read_text() == "{}"
    assert not (folder / "consumption_2025-01-10.1.csv").exists()


def test_a_vanished_source_is_none_and_leaves_nothing(landing: Path, quarantine_dir: Path) -> None:
    (landing / NAME).write_text("x")
    file = landing_file(landing / NAME)
    (landing / NAME).unlink()

    assert quarantine(file, quarantine_dir, rejection()) is None
    assert everything_under(quarantine_dir) == ["consumption", "consumption/2025-01-10"]


def exdev_into(monkeypatch: pytest.MonkeyPatch, folder: Path, times: int | None = 1) -> None:
    """os.rename into `folder` fails as across devices (the first `times` calls, or always)."""
    real_rename, calls = os.rename, [0]

    def rename(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(dst).startswith(str(folder)) and (times is None or calls[0] < times):
            calls[0] += 1
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def test_across_devices_a_file_is_copied_synced_and_removed(
    landing: Path, quarantine_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = os.urandom(3 * 1024 * 1024)
    (landing / NAME).write_bytes(content)
    os.chmod(landing / NAME, 0o640)
    exdev_into(monkeypatch, quarantine_dir)

    held = quarantine(landing_file(landing / NAME), quarantine_dir, rejection())

    assert held == quarantine_dir / "consumption" / DAY.isoformat() / NAME
    assert held.read_bytes() == content
    assert held.stat().st_mode & 0o777 == 0o640
    assert os.listdir(landing) == []  # no claim left behind
    assert everything_under(held.parent) == sorted(
        [NAME, f"{NAME}.reason.json", f"{NAME}.reason.txt"]
    )


@pytest.mark.parametrize("case", ["link inside the zone", "dangling link", "directory", "FIFO"])
def test_across_devices_a_non_regular_entry_is_recreated_as_it_is(
    case: str,
    landing: Path,
    tmp_path: Path,
    quarantine_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make, _ = ENTRIES[case]
    target = make(landing, tmp_path)
    link_to = os.readlink(landing / NAME) if (landing / NAME).is_symlink() else None
    kind = landing_file(landing / NAME).kind()
    before = target.read_bytes() if link_to is not None and target.is_file() else None
    exdev_into(monkeypatch, quarantine_dir)

    held = quarantine(landing_file(landing / NAME), quarantine_dir, rejection())

    assert held is not None
    assert landing_zone.kind_of(os.lstat(held).st_mode) == kind
    assert not os.path.lexists(landing / NAME)
    assert [p for p in os.listdir(landing) if p.startswith(f".{NAME}")] == []
    if link_to is not None:
        assert os.readlink(held) == link_to
    if case == "directory":
        assert (held / "inner.csv").is_file()
    if before is not None:
        assert target.read_bytes() == before


def test_a_failed_copy_across_devices_puts_the_file_back(
    landing: Path, quarantine_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (landing / NAME).write_bytes(b"keep me")
    exdev_into(monkeypatch, quarantine_dir)

    def full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)

    with pytest.raises(OSError, match="No space left"):
        quarantine(landing_file(landing / NAME), quarantine_dir, rejection())

    assert os.listdir(landing) == [NAME]
    assert (landing / NAME).read_bytes() == b"keep me"
    assert everything_under(quarantine_dir) == ["consumption", "consumption/2025-01-10"]


@pytest.mark.parametrize("across_devices", [False, True])
def test_two_runs_quarantining_one_file_move_it_once(
    across_devices: bool, landing: Path, quarantine_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if across_devices:
        exdev_into(monkeypatch, quarantine_dir, times=None)
    folder = quarantine_dir / "consumption" / DAY.isoformat()
    for attempt in range(20):
        content = f"delivery {attempt}".encode() * 1000
        (landing / NAME).write_bytes(content)
        file = landing_file(landing / NAME)
        start = threading.Barrier(2)
        results: list[Path | None] = []

        def run(
            file: LandingFile = file,
            start: threading.Barrier = start,
            results: list[Path | None] = results,
        ) -> None:
            start.wait()
            results.append(quarantine(file, quarantine_dir, rejection()))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        (held,) = [r for r in results if r is not None]
        assert results.count(None) == 1
        assert held.read_bytes() == content
        assert os.listdir(landing) == []
    held_files = sorted(p for p in folder.iterdir() if not p.name.endswith((".json", ".txt")))
    assert sorted(p.read_bytes() for p in held_files) == sorted(
        f"delivery {i}".encode() * 1000 for i in range(20)
    )
    for held in held_files:
        assert Path(f"{held}.reason.json").is_file() and Path(f"{held}.reason.txt").is_file()
    assert [p for p in folder.iterdir() if p.name.startswith(".")] == []


def test_an_accepted_day_still_reaches_the_lake(
    landing: Path, lake: Lake, policy: IngestPolicy
) -> None:
    write_file(consumption(), landing_path(landing, "consumption", DAY, "csv"))

    result = ingest_day(CONSUMPTION, DAY, take(landing, 10.0, time.time() + 11), lake, policy)

    assert result.accepted
    assert lake.days(table_name(CONSUMPTION)) == [DAY]
