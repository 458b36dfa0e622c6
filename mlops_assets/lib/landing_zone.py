"""The landing zone: files in the dataset schemas dropped into a folder, and their quarantine.

A landing file is named `<dataset>_<YYYY-MM-DD>[_<tag>].<csv|parquet|json>`, e.g.
`consumption_2025-01-03.csv`, `consumption_2025-01-03_DK1.json` or
`weather_forecast_2025-01-04.parquet`; the date is the UTC day its rows belong to (for a weather
forecast, the day of its target hours). Several files of one dataset and day are ingested together.

Safe intake. Write a file under a name that breaks the rule (`.consumption_2025-01-03.csv` or
`consumption_2025-01-03.csv.part`) and rename it into place when complete. Either way, a file is
taken only once unchanged (its later of modification and change time) for the settle time
(MLOPS_LANDING_SETTLE_SECONDS); a rename sets the change time, so a file moved in waits too.
Only regular files are read: a symbolic link, directory, FIFO, socket or device named like a
landing file is never opened nor followed, and is quarantined as it is.
"""

from __future__ import annotations

import errno
import io
import itertools
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from mlops_assets.lib.validation import ValidationReport

FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
FILE_NAME = re.compile(
    r"^(?P<dataset>[a-z]+(?:_[a-z]+)*)_(?P<day>\d{4}-\d{2}-\d{2})(?:_(?P<tag>[A-Za-z0-9-]+))?"
    r"\.(?P<fmt>csv|parquet|json)$"
)
ECHO_LIMIT = 300  # characters of file content (or of an error quoting it) a message may carry
MAX_COLUMNS = 1000  # more is a file without a header line (or a JSON of anything but records)
REASON_LIMIT = 64 * 1024  # bytes of each quarantine reason file
SETTLE_VARIABLE = "MLOPS_LANDING_SETTLE_SECONDS"
_KINDS = (
    (stat.S_ISREG, "regular file"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)  # a link swapped in after the check fails to open
    | getattr(os, "O_NONBLOCK", 0)  # so does a FIFO, instead of blocking forever
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class UnreadableFileError(ValueError):
    """A landing file that is not valid CSV, Parquet or JSON."""


def cap(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` cut to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} characters cut)"


def kind_of(mode: int) -> str:
    """What an lstat mode is: "regular file", "symbolic link", "directory", "FIFO", …"""
    return next((name for test, name in _KINDS if test(mode)), "file of unknown kind")


def _not_regular(mode: int) -> str:
    return f"is not a regular file (a {kind_of(mode)}); landing files must be regular files"


def arrival_ns(st: os.stat_result, now_ns: int) -> int:
    """When a file last changed or entered its folder: the later of its modification time and its
    change time (`mv`, `cp -p` or `rsync -t` keep an old mtime; the rename sets the ctime). A
    modification time in the future (a writer's clock ahead) is not trusted: the ctime counts."""
    mtime = st.st_mtime_ns if st.st_mtime_ns <= now_ns else 0
    return max(mtime, st.st_ctime_ns)


@dataclass(frozen=True)
class LandingFile:
    """A file in the landing zone, with the dataset and day its name declares."""

    path: Path
    dataset: str
    day: date
    fmt: str

    @classmethod
    def parse(cls, path: Path) -> LandingFile | None:
        match = FILE_NAME.match(path.name)
        if not match:
            return None
        try:
            day = date.fromisoformat(match["day"])
        except ValueError:
            return None
        return cls(path=path, dataset=match["dataset"], day=day, fmt=match["fmt"])

    def kind(self) -> str:
        """What the entry is, without following a link (FileNotFoundError once it is gone)."""
        return kind_of(os.lstat(self.path).st_mode)

    def refusal(self, landing_dir: Path | None = None) -> str | None:
        """Why the entry must never be opened (a link, a directory, a FIFO, …, or a path leading
        out of `landing_dir`), or None for a regular file. Never follows nor opens the entry;
        FileNotFoundError once it is gone."""
        mode = os.lstat(self.path).st_mode
        if stat.S_ISLNK(mode):
            try:
                target = cap(os.readlink(self.path))
            except OSError as err:
                target = f"unreadable: {err.strerror}"
            return f"is a symbolic link (to {target}); landing files must be regular files"
        if not stat.S_ISREG(mode):
            return _not_regular(mode)
        if landing_dir is not None:
            resolved, root = self.path.resolve(), landing_dir.resolve()
            if not resolved.is_relative_to(root):
                return f"resolves to {cap(str(resolved))}, outside the landing folder {root}"
        return None

    def pending(self, settle_seconds: float, now: float) -> str | None:
        """Why the file is not taken yet (changed less than `settle_seconds` before `now`, epoch
        seconds), or None once it has settled. FileNotFoundError once it is gone."""
        if settle_seconds <= 0:
            return None
        now_ns = int(now * 1e9)
        age = (now_ns - arrival_ns(os.lstat(self.path), now_ns)) / 1e9
        if age >= settle_seconds:
            return None
        return (
            f"{self.path.name} is still being written: last changed {max(age, 0.0):.1f} s ago; "
            f"it is taken once unchanged for {settle_seconds:g} s ({SETTLE_VARIABLE})"
        )

    def read(self) -> pl.DataFrame:
        """The file's rows as delivered (types as the format gives them; no fixing). Opens only a
        regular file, never through a link; every failure is an UnreadableFileError whose
        message quotes at most ECHO_LIMIT characters."""
        try:
            data = self._read_bytes()
            if self.fmt == "parquet":
                frame = pl.read_parquet(io.BytesIO(data))
            elif self.fmt == "csv":
                frame = _read_csv(data)
            else:
                frame = _read_json(data)
        except (UnreadableFileError, MemoryError):
            raise
        # Polars' PanicException derives from BaseException; RecursionError is deeply nested JSON.
        except (Exception, pl.exceptions.PanicException) as err:
            detail = cap(str(err).strip() or type(err).__name__)
            raise UnreadableFileError(f"cannot be read as {self.fmt.upper()}: {detail}") from None
        # Column names end up in messages: a line of garbage read as a header must not.
        if len(frame.columns) > MAX_COLUMNS:
            raise UnreadableFileError(
                f"has {len(frame.columns)} columns, more than {MAX_COLUMNS}; is its first line "
                "the header?"
            )
        if too_long := next((c for c in frame.columns if len(c) > ECHO_LIMIT), None):
            raise UnreadableFileError(
                f"has a column name of {len(too_long)} characters ({cap(too_long, 40)}); is its "
                "first line the header?"
            )
        return frame

    def _read_bytes(self) -> bytes:
        try:
            fd = os.open(self.path, _READ_FLAGS)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise UnreadableFileError(
                    "is a symbolic link; landing files must be regular files"
                ) from None
            raise
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise UnreadableFileError(_not_regular(mode))
            return handle.read()


def list_files(
    landing_dir: Path, dataset: str | None = None, day: date | None = None
) -> list[LandingFile]:
    """Entries named by the naming rule, optionally for one dataset and day. Links, directories
    and other non-regular entries are listed too (see `LandingFile.refusal`), so they can be
    quarantined; nothing is followed or opened."""
    if not landing_dir.exists():
        return []
    files = (LandingFile.parse(p) for p in sorted(landing_dir.iterdir()))
    return [
        f
        for f in files
        if f and (dataset is None or f.dataset == dataset) and (day is None or f.day == day)
    ]


def landing_path(landing_dir: Path, dataset: str, day: date, fmt: str, tag: str = "") -> Path:
    """Where a file for `dataset` and `day` goes, following the naming rule."""
    suffix = f"_{tag}" if tag else ""
    return landing_dir / f"{dataset}_{day.isoformat()}{suffix}.{fmt}"


def write_file(df: pl.DataFrame, path: Path) -> Path:
    """Write `df` in the format the path's extension names (used by the generator CLI and tests),
    the safe way: under a hidden name first, renamed into place once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".")
    partial = path.with_name(f".{path.name}.part")
    if fmt == "parquet":
        df.write_parquet(partial)
    elif fmt == "csv":
        df.write_csv(partial)
    elif fmt == "json":
        records = df.with_columns(pl.selectors.temporal().dt.strftime("%Y-%m-%dT%H:%M:%S"))
        partial.write_text(json.dumps({"records": records.to_dicts()}))
    else:
        raise ValueError(f"{path}: unknown landing format {fmt!r}; use one of {FORMATS}")
    os.replace(partial, path)
    return path


def quarantine(file: LandingFile, quarantine_dir: Path, report: ValidationReport) -> Path | None:
    """Move a rejected entry out of the landing zone, with reason files beside it; where it went.

    The entry moves as it is: a symbolic link stays a link (its target is never touched nor
    read), a directory or FIFO is moved, not opened. Nothing is ever overwritten: the name in
    `<quarantine_dir>/<dataset>/<day>/` is reserved first (O_EXCL), as `<name>`, else
    `<stem>.1<suffix>`, `<stem>.2<suffix>`, …; across devices the entry is claimed under a hidden
    name in the landing folder, copied, synced and renamed onto the reservation, then removed.

    Returns None, writing nothing, when the entry was gone before it could be moved: another run
    quarantined (or someone removed) it first."""
    folder = quarantine_dir / file.dataset / file.day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.lstat(file.path).st_mode
    except FileNotFoundError:
        return None
    is_dir = stat.S_ISDIR(mode)
    target = _reserve(folder, file.path.name, is_dir)
    try:
        moved = _move(file.path, target)
    except BaseException:
        _remove(target)
        raise
    if not moved:
        _remove(target)
        return None
    kind = kind_of(mode)
    reason = {
        "file": str(file.path),
        "quarantined_as": str(target),
        "kind": kind,
        "dataset": file.dataset,
        "partition": file.day.isoformat(),
        "quarantined_at": datetime.now(UTC).isoformat(),
        "failed_rules": report.failed_rules(),
        "violations": [asdict(v) for v in report.violations],
    }
    as_is = (
        f"\nIt was a {kind}, not a regular file, and was moved as it is (a link's target is "
        "never touched).\n"
        if kind != "regular file"
        else ""
    )
    advice = (
        f"\n\nThe lake was not changed. Fix {file.path.name} and drop it into "
        f"{file.path.parent} again under that name.\n{as_is}"
    )
    _write_atomic(Path(f"{target}.reason.json"), _reason_json(reason))
    _write_atomic(
        Path(f"{target}.reason.txt"), _fit(report.describe(), REASON_LIMIT - 2048) + advice
    )
    return target


def _reserve(folder: Path, name: str, is_dir: bool) -> Path:
    """Create `name` (or the first free `<stem>.<n><suffix>`) in `folder` atomically."""
    stem, dot, suffix = name.rpartition(".")
    for n in itertools.count():
        candidate = folder / (name if n == 0 else f"{stem}.{n}{dot}{suffix}")
        if any(Path(f"{candidate}.reason.{ext}").exists() for ext in ("json", "txt")):
            continue
        try:
            if is_dir:
                os.mkdir(candidate)
            else:
                flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
                os.close(os.open(candidate, flags, 0o600))
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def _move(source: Path, target: Path) -> bool:
    """Move `source` onto its reservation `target`; False if `source` was gone."""
    try:
        os.rename(source, target)
        return True
    except FileNotFoundError:
        return False
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
    # Across devices. Claim the entry first, so that of two runs only one copies it.
    claim = source.with_name(f".{source.name}.quarantining-{uuid.uuid4().hex}")
    try:
        os.rename(source, claim)
    except FileNotFoundError:
        return False
    try:
        _copy_entry(claim, target)
    except BaseException:
        _put_back(claim, source)
        raise
    with suppress(OSError):  # a leftover hidden claim is a duplicate, never a loss
        _remove(claim)
    return True


def _copy_entry(source: Path, target: Path) -> None:
    """Copy `source` as it is (a link as a link) onto `target`, through a synced temporary."""
    st = os.lstat(source)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(source), temporary)
        elif stat.S_ISDIR(st.st_mode):
            shutil.copytree(source, temporary, symlinks=True)
        elif stat.S_ISREG(st.st_mode):
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            with os.fdopen(os.open(source, flags), "rb") as src, temporary.open("xb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            shutil.copystat(source, temporary, follow_symlinks=False)
        else:  # FIFO, socket or device: an inode with no content, recreated as it is
            os.mknod(temporary, st.st_mode, st.st_rdev)
        os.replace(temporary, target)  # onto the reservation (an empty file or directory)
    except BaseException:
        with suppress(OSError):
            _remove(temporary)
        raise
    _fsync_dir(target.parent)


def _put_back(claim: Path, source: Path) -> None:
    """Return a claimed entry to its name, unless a new entry took that name meanwhile."""
    with suppress(OSError):
        if claim.is_dir() and not claim.is_symlink():
            if not os.path.lexists(source):
                os.rename(claim, source)
        else:
            os.link(claim, source, follow_symlinks=False)  # fails rather than overwrite
            os.unlink(claim)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _fit(text: str, limit: int) -> str:
    """`text` cut to about `limit` bytes of UTF-8, saying so."""
    if len(text.encode()) <= limit:
        return text
    kept = text.encode()[:limit].decode(errors="ignore")
    return f"{kept}\n… ({len(text) - len(kept)} characters cut; reason files are capped)"


def _reason_json(reason: dict) -> str:
    """The reason as JSON within REASON_LIMIT bytes: long texts capped, then violations dropped
    from the end (counted in "violations_cut")."""
    for v in reason["violations"]:
        v["message"] = cap(v["message"], 2000)
        v["examples"] = [cap(str(e)) for e in v["examples"][:20]]
    text = json.dumps(reason, indent=2)
    cut = 0
    while len(text.encode()) > REASON_LIMIT and reason["violations"]:
        reason["violations"].pop()
        cut += 1
        reason["violations_cut"] = cut
        text = json.dumps(reason, indent=2)
    return text


def _read_csv(data: bytes) -> pl.DataFrame:
    header = data.split(b"\n", 1)[0].decode("utf-8")  # UnicodeDecodeError: not a text file
    # Energi Data Service's own CSV downloads use ';' and a decimal comma.
    if ";" in header:
        return pl.read_csv(
            io.BytesIO(data), separator=";", decimal_comma=True, infer_schema_length=None
        )
    return pl.read_csv(io.BytesIO(data), infer_schema_length=None)


def _read_json(data: bytes) -> pl.DataFrame:
    payload = json.loads(data.decode("utf-8"))
    records: Sequence[dict] = payload.get("records") if isinstance(payload, dict) else payload
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected a list of records or an object with a 'records' list")
    return pl.DataFrame(records, infer_schema_length=None, strict=False)
