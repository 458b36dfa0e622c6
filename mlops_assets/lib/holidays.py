"""Danish public holidays, computed from the Easter date rather than listed per year."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

# Store Bededag was abolished by law from 2024 on.
LAST_STORE_BEDEDAG_YEAR = 2023


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of a Gregorian year (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def danish_holidays(year: int) -> dict[dt.date, str]:
    """Public holidays and de facto days off of a year, by date; names joined when two coincide."""
    easter = easter_sunday(year)
    relative_to_easter = {
        -3: "Skærtorsdag",
        -2: "Langfredag",
        0: "Påskedag",
        1: "2. Påskedag",
        39: "Kristi Himmelfartsdag",
        49: "Pinsedag",
        50: "2. Pinsedag",
    }
    if year <= LAST_STORE_BEDEDAG_YEAR:
        relative_to_easter[26] = "Store Bededag"
    days = [
        (easter + dt.timedelta(days=offset), name) for offset, name in relative_to_easter.items()
    ]
    days += [
        (dt.date(year, 1, 1), "Nytårsdag"),
        (dt.date(year, 6, 5), "Grundlovsdag"),
        (dt.date(year, 12, 24), "Juleaftensdag"),
        (dt.date(year, 12, 25), "Juledag"),
        (dt.date(year, 12, 26), "2. Juledag"),
        (dt.date(year, 12, 31), "Nytårsaftensdag"),
    ]
    holidays: dict[dt.date, str] = {}
    # Pinsedag can fall on Grundlovsdag (5 June 2022): one day off, both names.
    for day, name in sorted(days):
        holidays[day] = f"{holidays[day]} / {name}" if day in holidays else name
    return holidays


@lru_cache(maxsize=256)
def _holiday_days(year: int) -> np.ndarray:
    return np.array(sorted(danish_holidays(year)), dtype="datetime64[D]")


def holiday_mask(dates: np.ndarray) -> np.ndarray:
    """Whether each date (datetime64[D]) is a Danish holiday."""
    days = np.asarray(dates).astype("datetime64[D]")
    if days.size == 0:
        return np.zeros(days.shape, dtype=bool)
    years = np.unique(days.astype("datetime64[Y]").astype(np.int64) + 1970)
    holidays = np.concatenate([_holiday_days(int(y)) for y in years])
    return np.isin(days, holidays)
