"""The data lake: one Parquet file per dataset and UTC day, replaced atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from mlops_assets.lib.object_store import S3Mirror

PARTITION_FILE = "data.parquet"


@dataclass(frozen=True)
class Lake:
    """A folder of `<table>/day=YYYY-MM-DD/data.parquet` files (Hive layout, read by DuckDB)."""

    root: Path
    # With a mirror (MLOPS_LAKE_URI=s3://...), the bucket is the durable lake and `root` a cache.
    mirror: S3Mirror | None = None

    def partition_path(self, table: str, day: date) -> Path:
        return self.root / self._relative(table, day)

    @staticmethod
    def _relative(table: str, day: date) -> str:
        return f"{table}/day={day.isoformat()}/{PARTITION_FILE}"

    def ensure_local(self, table: str, days: Iterable[date]) -> list[Path]:
        """The days' partitions on local disk, fetched from the mirror where missing."""
        present = []
        for day in days:
            path = self.partition_path(table, day)
            if path.exists() or (
                self.mirror is not None and self.mirror.download(self._relative(table, day), path)
            ):
                present.append(path)
        return present

    def glob(self, table: str) -> str:
        """The pattern dbt and DuckDB read the whole table through."""
        return str(self.root / table / "day=*" / PARTITION_FILE)

    def write(self, table: str, day: date, df: pl.DataFrame) -> Path:
        """Replace the partition with `df` in one step: readers see the old file or the new one.
        With a mirror, the bucket gets the same file (one object PUT, atomic as well)."""
        path = write_parquet_atomic(df, self.partition_path(table, day))
        if self.mirror is not None:
            self.mirror.upload(path, self._relative(table, day))
        return path

    def read(self, table: str, days: Iterable[date]) -> pl.DataFrame | None:
        """The rows of the given days that exist in the lake, or None if none do."""
        paths = self.ensure_local(table, days)
        if not paths:
            return None
        return pl.concat([pl.read_parquet(p) for p in paths], how="vertical")

    def days(self, table: str) -> list[date]:
        """The days present in the lake for `table` (local or mirrored), oldest first."""
        folder = self.root / table
        found = {
            date.fromisoformat(p.name.removeprefix("day="))
            for p in (folder.glob("day=*") if folder.exists() else [])
            if (p / PARTITION_FILE).exists()
        }
        if self.mirror is not None:
            for key in self.mirror.list(f"{table}/day="):
                name, _, rest = key.removeprefix(f"{table}/").partition("/")
                if rest == PARTITION_FILE:
                    found.add(date.fromisoformat(name.removeprefix("day=")))
        return sorted(found)


def write_parquet_atomic(df: pl.DataFrame, path: Path, compression: str = "zstd") -> Path:
    """Write `df` to `path` through a temporary file and one rename: never half a file.

    The temporary name starts with a dot and ends in `.tmp`, so no `*.parquet` glob (Feast,
    DuckDB, dbt) ever reads it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.write_parquet(tmp, compression=compression, statistics=True)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
