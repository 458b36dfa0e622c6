"""The lake: one Parquet file per table and UTC day, replaced in one step."""

from __future__ import annotations

import glob
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib.generator import GeneratorConfig, generate_consumption
from mlops_assets.lib.lake import Lake

TABLE = "raw_consumption"
DAY = date(2025, 1, 3)
CONFIG = GeneratorConfig(n_consumer_types=3)


def day_of_consumption(day: date) -> pl.DataFrame:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return generate_consumption(start, start + timedelta(days=1), CONFIG)


def test_a_written_day_reads_back_identically(lake: Lake) -> None:
    frame = day_of_consumption(DAY)

    path = lake.write(TABLE, DAY, frame)

    assert path == lake.root / TABLE / "day=2025-01-03" / "data.parquet"
    read = lake.read(TABLE, [DAY])
    assert read is not None
    assert read.equals(frame)


def test_rewriting_a_day_replaces_it(lake: Lake) -> None:
    lake.write(TABLE, DAY, day_of_consumption(DAY))
    corrected = day_of_consumption(DAY).with_columns(pl.col("TotalCon") + 1.0)

    lake.write(TABLE, DAY, corrected)

    read = lake.read(TABLE, [DAY])
    assert read is not None
    assert read.equals(corrected)
    assert list(lake.partition_path(TABLE, DAY).parent.iterdir()) == [
        lake.partition_path(TABLE, DAY)
    ]


def test_read_returns_the_days_that_exist(lake: Lake) -> None:
    days = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 4)]
    for day in days:
        lake.write(TABLE, day, day_of_consumption(day))

    read = lake.read(TABLE, [date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 4)])

    assert read is not None
    expected = pl.concat([day_of_consumption(date(2025, 1, 2)), day_of_consumption(days[2])])
    assert read.equals(expected)
    assert lake.read(TABLE, [date(2024, 12, 31)]) is None
    assert lake.read("raw_weather", days) is None


def test_days_lists_written_days_oldest_first(lake: Lake) -> None:
    for day in (date(2025, 1, 10), date(2024, 12, 31), date(2025, 1, 2)):
        lake.write(TABLE, day, day_of_consumption(day))
    # A folder left without its data file is not a day of data.
    (lake.root / TABLE / "day=2025-01-05").mkdir()

    assert lake.days(TABLE) == [date(2024, 12, 31), date(2025, 1, 2), date(2025, 1, 10)]
    assert lake.days("raw_weather") == []


def test_glob_matches_every_partition_file(lake: Lake) -> None:
    paths = [lake.write(TABLE, d, day_of_consumption(d)) for d in (DAY, DAY + timedelta(days=1))]
    lake.write("raw_weather", DAY, day_of_consumption(DAY))

    assert sorted(glob.glob(lake.glob(TABLE))) == [str(p) for p in paths]


def fail_after_partial_write(
    self: pl.DataFrame, file: str | Path, *args: object, **kwargs: object
) -> None:
    # Like a full disk: some bytes reach the file, then the write fails.
    Path(file).write_bytes(b"PAR1 half a row group")
    raise OSError(28, "No space left on device")


def test_a_failed_rewrite_leaves_the_previous_day_untouched(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = lake.write(TABLE, DAY, day_of_consumption(DAY))
    before = path.read_bytes()
    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail_after_partial_write)

    with pytest.raises(OSError, match="No space left"):
        lake.write(TABLE, DAY, day_of_consumption(DAY).head(5))

    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]
    assert lake.days(TABLE) == [DAY]


def test_a_failed_first_write_leaves_no_day_behind(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail_after_partial_write)

    with pytest.raises(OSError):
        lake.write(TABLE, DAY, day_of_consumption(DAY))

    assert lake.days(TABLE) == []
    assert lake.read(TABLE, [DAY]) is None
    assert list(lake.partition_path(TABLE, DAY).parent.iterdir()) == []
