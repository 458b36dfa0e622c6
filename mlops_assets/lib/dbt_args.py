"""dbt command lines for partitioned runs, kept pure so they are tested without dbt."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path


def partition_vars(
    window_start: datetime, window_end: datetime, lake_dir: Path, warehouse_path: Path
) -> dict[str, str]:
    """The `--vars` a staging run needs: the half-open day window and where data lives.

    Paths travel as vars, not environment, because dbt runs in its own folder and would resolve
    relative paths differently from the settings.
    """
    if window_end <= window_start:
        raise ValueError(f"empty partition window [{window_start}, {window_end})")
    return {
        "min_date": window_start.date().isoformat(),
        "max_date": window_end.date().isoformat(),
        "lake_dir": str(lake_dir),
        "warehouse_path": str(warehouse_path),
    }


def build_args(
    window_start: datetime, window_end: datetime, lake_dir: Path, warehouse_path: Path
) -> list[str]:
    """`dbt build` over one partition window (one day, or a whole single-run backfill range)."""
    window = partition_vars(window_start, window_end, lake_dir, warehouse_path)
    return ["build", "--vars", json.dumps(window)]
