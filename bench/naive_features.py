"""The naive equivalent of `build_features`, written the straightforward pandas way.

Reindex onto a MultiIndex grid of segments x hours, `groupby().shift()` and `groupby().rolling()`
per segment, pandas tz conversion for the calendar, `merge` for the temperature. Same features,
same point-in-time rule and windows as `mlops_assets.lib.features`; the benchmark checks that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from mlops_assets.lib.features import (
    CUTOFF_HOURS,
    ENTITY,
    FEATURES_SCHEMA,
    LABEL,
    LOOKBACK_HOURS,
    MIN_WINDOW_SHARE,
    TIMESTAMP,
)
from mlops_assets.lib.holidays import holiday_mask
from mlops_assets.lib.schema import DANISH_TZ


def build_features(
    consumption: pd.DataFrame, weather: pd.DataFrame, start: datetime, end: datetime
) -> pd.DataFrame:
    """Feature rows of every segment and target hour in [start, end), as pandas."""
    first = pd.Timestamp(start).tz_convert(None)
    stop = pd.Timestamp(end).tz_convert(None)
    history_start = first - timedelta(hours=LOOKBACK_HOURS)
    staged = consumption[
        (consumption["hour_utc"] >= history_start) & (consumption["hour_utc"] < stop)
    ]
    segments = (
        staged.drop_duplicates(ENTITY)[[ENTITY, "price_area", "consumer_type"]]
        .sort_values(ENTITY)
        .reset_index(drop=True)
    )
    hours = pd.date_range(history_start, stop, freq="h", inclusive="left", unit="us")
    grid = pd.MultiIndex.from_product([segments[ENTITY], hours], names=[ENTITY, "hour_utc"])
    df = staged.set_index([ENTITY, "hour_utc"])[LABEL].reindex(grid).reset_index()

    by_segment = df.groupby(ENTITY, sort=False)[LABEL]
    df["lag_24h"] = by_segment.shift(CUTOFF_HOURS)
    df["lag_48h"] = by_segment.shift(CUTOFF_HOURS + 24)
    df["lag_168h"] = by_segment.shift(168)
    df["lag_336h"] = by_segment.shift(336)
    df["same_hour_mean_2w"] = df[["lag_168h", "lag_336h"]].mean(axis=1)
    for hours_back in (24, 168):
        rolling = by_segment.rolling(hours_back, min_periods=int(hours_back * MIN_WINDOW_SHARE))
        for stat, values in (("mean", rolling.mean()), ("std", rolling.std())):
            column = f"rolling_{stat}_{hours_back}h"
            df[column] = values.reset_index(level=0, drop=True)
            df[column] = df.groupby(ENTITY, sort=False)[column].shift(CUTOFF_HOURS)

    df = df[df["hour_utc"] >= first].merge(segments, on=ENTITY, how="left")
    df[TIMESTAMP] = df["hour_utc"].dt.tz_localize("UTC")
    local = df[TIMESTAMP].dt.tz_convert(DANISH_TZ)
    df["hour_of_day"] = local.dt.hour
    df["day_of_week"] = local.dt.dayofweek
    df["month"] = local.dt.month
    df["is_weekend"] = (df["day_of_week"] >= 5).astype("int64")
    local_date = local.dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")
    df["is_holiday"] = holiday_mask(local_date).astype("int64")

    # The newest forecast issued at or before each target hour's origin (00:00 UTC of its day).
    known = weather[weather["issue_utc"] <= weather["hour_utc"].dt.floor("D")]
    newest = known.sort_values("issue_utc").drop_duplicates(["hour_utc", "price_area"], keep="last")
    df = df.merge(
        newest[["hour_utc", "price_area", "temperature_c"]],
        on=["hour_utc", "price_area"],
        how="left",
    )
    df["heating_degrees"] = (17.0 - df["temperature_c"]).clip(lower=0.0)
    df["cooling_degrees"] = (df["temperature_c"] - 22.0).clip(lower=0.0)
    df["consumer_type"] = df["consumer_type"].astype("int64")
    return df.sort_values([ENTITY, TIMESTAMP]).reset_index(drop=True)[list(FEATURES_SCHEMA)]
