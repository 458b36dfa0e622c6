"""The landing zone: files in the dataset schemas dropped into a folder, and their quarantine.

A landing file is named `<dataset>_<YYYY-MM-DD>[_<tag>].<csv|parquet|json>`, e.g.
`consumption_2025-01-03.csv`, `consumption_2025-01-03_DK1.json` or
`weather_forecast_2025-01-04.parquet`; the date is the UTC day its rows belong to (for a weather
forecast, the day of its target hours). Several files of one dataset and day are ingested together.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
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


class UnreadableFileError(ValueError):
    """A landing file that is not valid CSV, Parquet or JSON."""


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

    def read(self) -> pl.DataFrame:
        """The file's rows as delivered (types as the format gives them; no fixing)."""
        try:
            if self.fmt == "parquet":
                return pl.read_parquet(self.path)
            if self.fmt == "csv":
                return _read_csv(self.path)
            return _read_json(self.path)
        except (OSError, ValueError, pl.exceptions.PolarsError) as err:
            raise UnreadableFileError(f"cannot be read as {self.fmt.upper()}: {err}") from err


def list_files(
    landing_dir: Path, dataset: str | None = None, day: date | None = None
) -> list[LandingFile]:
    """Landing files matching the naming rule, optionally for one dataset and day."""
    if not landing_dir.exists():
        return []
    files = (LandingFile.parse(p) for p in sorted(landing_dir.iterdir()) if p.is_file())
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
    """Write `df` in the format the path's extension names (used by the generator CLI and tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".")
    if fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "csv":
        df.write_csv(path)
    elif fmt == "json":
        records = df.with_columns(pl.selectors.temporal().dt.strftime("%Y-%m-%dT%H:%M:%S"))
        path.write_text(json.dumps({"records": records.to_dicts()}))
    else:
        raise ValueError(f"{path}: unknown landing format {fmt!r}; use one of {FORMATS}")
    return path


def quarantine(file: LandingFile, quarantine_dir: Path, report: ValidationReport) -> Path:
    """Move a rejected file out of the landing zone, with a reason file beside it."""
    folder = quarantine_dir / file.dataset / file.day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file.path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{file.path.stem}.{stamp}{file.path.suffix}"
    shutil.move(file.path, target)
    reason = {
        "file": str(file.path),
        "quarantined_as": str(target),
        "dataset": file.dataset,
        "partition": file.day.isoformat(),
        "quarantined_at": datetime.now(UTC).isoformat(),
        "failed_rules": report.failed_rules(),
        "violations": [asdict(v) for v in report.violations],
    }
    Path(f"{target}.reason.json").write_text(json.dumps(reason, indent=2))
    Path(f"{target}.reason.txt").write_text(
        f"{report.describe()}\n\nThe lake was not changed. Fix {file.path.name} and drop it into "
        f"{file.path.parent} again under that name.\n"
    )
    return target


def _read_csv(path: Path) -> pl.DataFrame:
    with path.open("r", encoding="utf-8") as handle:
        header = handle.readline()
    # Energi Data Service's own CSV downloads use ';' and a decimal comma.
    if ";" in header:
        return pl.read_csv(path, separator=";", decimal_comma=True, infer_schema_length=None)
    return pl.read_csv(path, infer_schema_length=None)


def _read_json(path: Path) -> pl.DataFrame:
    payload = json.loads(path.read_text(encoding="utf-8"))
    records: Sequence[dict] = payload.get("records") if isinstance(payload, dict) else payload
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected a list of records or an object with a 'records' list")
    return pl.DataFrame(records, infer_schema_length=None, strict=False)
