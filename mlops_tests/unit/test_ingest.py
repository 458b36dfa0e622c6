"""Ingesting a dataset-day: accepted days reach the lake, rejected files go to quarantine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib.generator import (
    Defects,
    GeneratorConfig,
    apply_defects,
    generate_consumption,
    generate_weather,
)
from mlops_assets.lib.ingest import IngestPolicy, ingest_day, table_name
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing_zone import LandingFile, UnreadableFileError, landing_path, write_file
from mlops_assets.lib.schema import CONSUMPTION, PRICE_AREA, TOTAL_CON, WEATHER
from mlops_assets.lib.sources import Delivery
from mlops_assets.lib.validation import COMPLETENESS, SCHEMA, UNIQUENESS, VALIDITY

DAY = date(2025, 1, 10)
CONFIG = GeneratorConfig(n_consumer_types=3)


def utc_day(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def consumption(day: date = DAY) -> pl.DataFrame:
    return generate_consumption(*utc_day(day), CONFIG)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def generated(frame: pl.DataFrame) -> Delivery:
    return Delivery(origin="consumption generator (seed=42)", frame=frame)


def dropped(frame: pl.DataFrame, path: Path) -> Delivery:
    """A delivery read from a landing file, the way the landing source makes it."""
    file = LandingFile.parse(write_file(frame, path))
    assert file is not None
    return Delivery(origin=str(file.path), frame=file.read(), landing_file=file)


def test_a_good_day_is_written_to_the_lake(lake: Lake, policy: IngestPolicy) -> None:
    # Delivered out of order; the lake holds it sorted by the key.
    delivered = consumption().sample(fraction=1.0, shuffle=True, seed=1)

    result = ingest_day(CONSUMPTION, DAY, [generated(delivered)], lake, policy)

    assert result.accepted
    assert result.report.describe().endswith("all rules passed")
    assert result.path == lake.partition_path("raw_consumption", DAY)
    stored = lake.read(table_name(CONSUMPTION), [DAY])
    assert stored is not None
    assert stored.equals(consumption())
    assert result.quarantined == ()
    assert result.skew is not None and result.skew.compared_days == 0


def test_skew_is_computed_against_the_days_before(lake: Lake, policy: IngestPolicy) -> None:
    for back in range(1, 8):
        day = DAY - timedelta(days=back)
        lake.write(table_name(CONSUMPTION), day, consumption(day))
    # Outside the seven-day lookback: must not count.
    lake.write(table_name(CONSUMPTION), DAY - timedelta(days=9), consumption(DAY))
    surge = consumption().with_columns(pl.col(TOTAL_CON) * 3)

    result = ingest_day(CONSUMPTION, DAY, [generated(surge)], lake, policy)

    assert result.accepted
    assert result.skew is not None
    assert result.skew.compared_days == 7
    assert result.skew.flagged.height == len(CONFIG.price_areas) * len(CONFIG.consumer_types)


def test_a_bad_file_is_quarantined_and_the_lake_kept(
    lake: Lake, policy: IngestPolicy, landing: Path
) -> None:
    path = landing_path(landing, "consumption", DAY, "csv")
    first = ingest_day(CONSUMPTION, DAY, [dropped(consumption(), path)], lake, policy)
    assert first.accepted and first.path is not None
    good_bytes = first.path.read_bytes()
    corrupted = apply_defects(consumption(), Defects(negative_values=4), seed=5)

    result = ingest_day(CONSUMPTION, DAY, [dropped(corrupted, path)], lake, policy)

    assert not result.accepted
    assert result.path is None and result.frame is None
    assert result.report.failed_rules() == [VALIDITY]
    assert first.path.read_bytes() == good_bytes
    assert not path.exists()
    (moved,) = result.quarantined
    assert moved == policy.quarantine_dir / "consumption" / "2025-01-10" / path.name
    reason = Path(f"{moved}.reason.txt").read_text()
    assert str(path) in reason
    assert "[validity] column 'TotalCon'" in reason


def test_files_of_one_day_are_combined(lake: Lake, policy: IngestPolicy, landing: Path) -> None:
    day = consumption()
    deliveries = [
        dropped(
            day.filter(pl.col(PRICE_AREA) == area),
            landing_path(landing, "consumption", DAY, fmt, area),
        )
        for area, fmt in (("DK1", "csv"), ("DK2", "parquet"))
    ]

    result = ingest_day(CONSUMPTION, DAY, deliveries, lake, policy)

    assert result.accepted
    assert str(deliveries[0].origin) in result.report.origin
    assert str(deliveries[1].origin) in result.report.origin
    stored = lake.read(table_name(CONSUMPTION), [DAY])
    assert stored is not None
    assert stored.equals(day)


def test_overlapping_files_are_rejected_together(
    lake: Lake, policy: IngestPolicy, landing: Path
) -> None:
    day = consumption()
    deliveries = [
        dropped(day, landing_path(landing, "consumption", DAY, "csv")),
        dropped(day.head(10), landing_path(landing, "consumption", DAY, "json", "late")),
    ]

    result = ingest_day(CONSUMPTION, DAY, deliveries, lake, policy)

    assert result.report.failed_rules() == [UNIQUENESS]
    assert len(result.quarantined) == 2
    assert lake.days(table_name(CONSUMPTION)) == []


def test_a_schema_problem_names_the_file_it_is_in(
    lake: Lake, policy: IngestPolicy, landing: Path
) -> None:
    day = generate_weather(*utc_day(DAY), CONFIG)
    renamed = day.filter(pl.col(PRICE_AREA) == "DK2").rename({"Temperature": "temp"})
    bad_path = landing_path(landing, "weather", DAY, "json", "DK2")
    deliveries = [
        dropped(
            day.filter(pl.col(PRICE_AREA) == "DK1"),
            landing_path(landing, "weather", DAY, "csv", "DK1"),
        ),
        dropped(renamed, bad_path),
    ]

    result = ingest_day(WEATHER, DAY, deliveries, lake, policy)

    assert result.report.failed_rules() == [SCHEMA]
    assert all(str(bad_path) in v.message for v in result.report.violations)
    assert {v.column for v in result.report.violations} == {"Temperature", "temp"}


def test_an_unreadable_file_is_a_schema_violation_naming_it(
    lake: Lake, policy: IngestPolicy, landing: Path
) -> None:
    landing.mkdir()
    path = landing / "consumption_2025-01-10.parquet"
    path.write_text("HourUTC,TotalCon\n")
    file = LandingFile.parse(path)
    assert file is not None
    with pytest.raises(UnreadableFileError) as raised:
        file.read()
    delivery = Delivery(origin=str(path), read_error=str(raised.value), landing_file=file)

    result = ingest_day(CONSUMPTION, DAY, [delivery], lake, policy)

    assert result.report.failed_rules() == [SCHEMA]
    (violation,) = result.report.violations
    assert str(path) in violation.message
    assert "cannot be read as PARQUET" in violation.message
    assert result.quarantined[0].exists()
    assert not path.exists()


def test_no_delivery_is_incomplete(lake: Lake, policy: IngestPolicy) -> None:
    result = ingest_day(CONSUMPTION, DAY, [], lake, policy)

    assert not result.accepted
    assert result.report.origin == "no delivery"
    (violation,) = result.report.violations
    assert violation.rule == COMPLETENESS
    assert "nothing was delivered" in violation.message
    assert lake.days(table_name(CONSUMPTION)) == []
