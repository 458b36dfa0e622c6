"""Reading the dbt staging tables out of the DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

STAGED_CONSUMPTION = "staging.stg_consumption"
STAGED_WEATHER = "staging.stg_weather"
STAGED_WEATHER_FORECAST = "staging.stg_weather_forecast"


class MissingUpstreamError(RuntimeError):
    """Staged data a computation needs is not in the warehouse."""


def read_window(
    warehouse: Path, table: str, start: datetime, end: datetime, columns: Sequence[str]
) -> pl.DataFrame:
    """Rows of `table` with `hour_utc` in [start, end) (UTC; the staged hours are naive UTC)."""
    lo, hi = _naive(start), _naive(end)
    query = f"select {', '.join(columns)} from {table} where hour_utc >= ? and hour_utc < ?"
    with duckdb.connect(str(_existing(warehouse)), read_only=True) as con:
        table = con.sql(query, params=[lo, hi]).to_arrow_table()
    return pl.from_arrow(table)  # type: ignore[return-value]


def days_present(warehouse: Path, table: str, days: Sequence[date]) -> set[date]:
    """Which of `days` have staged rows (the partition_day dbt recorded)."""
    if not days:
        return set()
    query = f"select distinct partition_day from {table} where partition_day between ? and ?"
    with duckdb.connect(str(_existing(warehouse)), read_only=True) as con:
        try:
            rows = con.execute(query, [min(days), max(days)]).fetchall()
        except duckdb.CatalogException:
            return set()  # the staging model has never run: no day is there
    return {r[0] for r in rows} & set(days)


def newest_day(warehouse: Path, table: str) -> date:
    """The newest partition day staged in `table`."""
    return _day(warehouse, table, "max")


def oldest_day(warehouse: Path, table: str) -> date:
    """The oldest partition day staged in `table`."""
    return _day(warehouse, table, "min")


def _day(warehouse: Path, table: str, which: str) -> date:
    with duckdb.connect(str(_existing(warehouse)), read_only=True) as con:
        row = con.execute(f"select {which}(partition_day) from {table}").fetchone()
    if row is None or row[0] is None:
        raise MissingUpstreamError(f"{table} is empty: materialize the staging assets first")
    return row[0]


def require_days(warehouse: Path, table: str, days: Sequence[date]) -> None:
    """Raise naming the table and the days when staged data is missing."""
    missing = sorted(set(days) - days_present(warehouse, table, days))
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:10])
        raise MissingUpstreamError(
            f"{table} has no rows for {len(missing)} day(s): {shown}. Materialize the raw and "
            "staging assets for those days first (e.g. ingestion_job); features are not computed "
            "from incomplete inputs."
        )


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone; pass UTC datetimes")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _existing(warehouse: Path) -> Path:
    if not warehouse.exists():
        raise MissingUpstreamError(
            f"the warehouse {warehouse} does not exist yet: materialize the staging assets first"
        )
    return warehouse
