"""The `dbt build` command line for a partition window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_assets.lib.dbt_args import build_args, partition_vars

LAKE = Path("/data/lake")
WAREHOUSE = Path("/data/warehouse.duckdb")


def test_one_day_is_a_half_open_window() -> None:
    start, end = datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 4, tzinfo=UTC)

    assert partition_vars(start, end, LAKE, WAREHOUSE) == {
        "min_date": "2025-01-03",
        "max_date": "2025-01-04",
        "lake_dir": "/data/lake",
        "warehouse_path": "/data/warehouse.duckdb",
    }


def test_a_backfill_range_is_one_window() -> None:
    start, end = datetime(2024, 12, 30, tzinfo=UTC), datetime(2025, 1, 6, tzinfo=UTC)

    window = partition_vars(start, end, LAKE, WAREHOUSE)

    assert (window["min_date"], window["max_date"]) == ("2024-12-30", "2025-01-06")


def test_build_args_pass_the_window_as_vars() -> None:
    start, end = datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 4, tzinfo=UTC)

    args = build_args(start, end, LAKE, WAREHOUSE)

    assert args[:2] == ["build", "--vars"]
    assert len(args) == 3
    assert json.loads(args[2]) == partition_vars(start, end, LAKE, WAREHOUSE)


@pytest.mark.parametrize(
    "end", [datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)]
)
def test_an_empty_window_is_refused(end: datetime) -> None:
    start = datetime(2025, 1, 3, tzinfo=UTC)

    with pytest.raises(ValueError, match="empty partition window"):
        partition_vars(start, end, LAKE, WAREHOUSE)
    with pytest.raises(ValueError, match="empty partition window"):
        build_args(start, end, LAKE, WAREHOUSE)
