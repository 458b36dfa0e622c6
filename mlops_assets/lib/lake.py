"""The data lake: one Parquet file per dataset and UTC day, replaced atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

PARTITION_FILE = "data.parquet"


@dataclass(frozen=True)
class Lake:
    """A folder of `<table>/day=YYYY-MM-DD/data.parquet` files (Hive layout, read by DuckDB)."""

    root: Path

    def partition_path(self, table: str, day: date) -> Path:
        return self.root / table / f"day={day.isoformat()}" / PARTITION_FILE

    def glob(self, table: str) -> str:
        """The pattern dbt and DuckDB read the whole table through."""
        return str(self.root / table / "day=*" / PARTITION_FILE)

    def write(self, table: str, day: date, df: pl.DataFrame) -> Path:
        """Replace the partition with `df` in one step: readers see the old file or the new one."""
        return write_parquet_atomic(df, self.partition_path(table, day))

    def read(self, table: str, days: Iterable[date]) -> pl.DataFrame | None:
        """The rows of the given days that exist in the lake, or None if none do."""
        paths = [p for d in days if (p := self.partition_path(table, d)).exists()]
        if not paths:
            return None
        return pl.concat([pl.read_parquet(p) for p in paths], how="vertical")

    def days(self, table: str) -> list[date]:
        """The days present in the lake for `table`, oldest first."""
        folder = self.root / table
        if not folder.exists():
            return []
        return sorted(
            date.fromisoformat(p.name.removeprefix("day="))
            for p in folder.glob("day=*")
            if (p / PARTITION_FILE).exists()
        )


def write_parquet_atomic(df: pl.DataFrame, path: Path) -> Path:
    """Write `df` to `path` through a temporary file and one rename: never half a file.

    The temporary name starts with a dot and ends in `.tmp`, so no `*.parquet` glob (Feast,
    DuckDB, dbt) ever reads it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
