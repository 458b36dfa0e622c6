"""The daily partitions every time-based asset shares."""

import dagster as dg

from mlops_assets.settings import get_settings

# Days are UTC; the last partition is yesterday, the last complete day.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().partition_start.isoformat(), timezone="UTC"
)
