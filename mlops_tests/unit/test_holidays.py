"""Danish holidays: Easter arithmetic, the abolished Store Bededag and the vectorised mask."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from mlops_assets.lib.holidays import danish_holidays, easter_sunday, holiday_mask


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2019, dt.date(2019, 4, 21)),
        (2023, dt.date(2023, 4, 9)),
        (2024, dt.date(2024, 3, 31)),
        (2025, dt.date(2025, 4, 20)),
        (2038, dt.date(2038, 4, 25)),  # the latest possible date
    ],
)
def test_easter_sunday_matches_the_calendar(year: int, easter: dt.date) -> None:
    assert easter_sunday(year) == easter


def test_easter_holidays_of_2024_are_placed_around_31_march() -> None:
    by_name = {name: day for day, name in danish_holidays(2024).items()}
    assert by_name["Skærtorsdag"] == dt.date(2024, 3, 28)
    assert by_name["Langfredag"] == dt.date(2024, 3, 29)
    assert by_name["2. Påskedag"] == dt.date(2024, 4, 1)
    assert by_name["Kristi Himmelfartsdag"] == dt.date(2024, 5, 9)
    assert by_name["Pinsedag"] == dt.date(2024, 5, 19)
    assert by_name["2. Pinsedag"] == dt.date(2024, 5, 20)


def test_store_bededag_is_a_holiday_until_2023_and_abolished_from_2024() -> None:
    assert danish_holidays(2023)[dt.date(2023, 5, 5)] == "Store Bededag"
    assert "Store Bededag" not in danish_holidays(2024).values()


@pytest.mark.parametrize(("year", "count"), [(2019, 14), (2023, 14), (2024, 13), (2025, 13)])
def test_number_of_days_off_per_year(year: int, count: int) -> None:
    assert len(danish_holidays(year)) == count


def test_pinsedag_on_grundlovsdag_is_one_day_with_both_names() -> None:
    holidays_2022 = danish_holidays(2022)
    assert len(holidays_2022) == 13
    assert holidays_2022[dt.date(2022, 6, 5)] == "Grundlovsdag / Pinsedag"


def test_fixed_days_off_around_christmas_and_new_year() -> None:
    holidays_2024 = danish_holidays(2024)
    for day in (1, 24, 25, 26, 31):
        month = 1 if day == 1 else 12
        assert dt.date(2024, month, day) in holidays_2024
    assert dt.date(2024, 12, 27) not in holidays_2024


def test_holiday_mask_flags_exactly_the_holidays_across_years() -> None:
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2025-01-01"))
    mask = holiday_mask(days)
    expected = {*danish_holidays(2023), *danish_holidays(2024)}
    assert mask.dtype == bool
    assert {d.item() for d in days[mask]} == expected


def test_holiday_mask_accepts_hourly_timestamps_and_empty_input() -> None:
    hours = np.array(["2024-12-25T13:00", "2024-12-27T13:00"], dtype="datetime64[h]")
    assert holiday_mask(hours).tolist() == [True, False]
    assert holiday_mask(np.array([], dtype="datetime64[D]")).shape == (0,)
