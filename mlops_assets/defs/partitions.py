"""The two daily calendars of the graph: days whose actuals are in, and days a forecast is for.

Keys are UTC dates. Actuals of day D are complete only after D ends, so `daily_partitions` ends
with yesterday. A forecast for D is issued at its origin, D 00:00 UTC, before any hour of D has
happened, so `forecast_partitions` reaches the current day. The mappings below say, in the graph,
which actuals a forecast may read: Dagster then knows that a corrected D-1 makes forecast D stale.
"""

import warnings

import dagster as dg

from mlops_assets.lib.features import LOOKBACK_HOURS
from mlops_assets.settings import get_settings

_START = get_settings().partition_start.isoformat()

daily_partitions = dg.DailyPartitionsDefinition(start_date=_START, timezone="UTC")
forecast_partitions = dg.DailyPartitionsDefinition(start_date=_START, timezone="UTC", end_offset=1)

# Features of target day D read consumption of the LOOKBACK_HOURS before D (the longest lag and
# the rolling windows), never D itself: days D-15 .. D-1.
LOOKBACK_DAYS = LOOKBACK_HOURS // 24
with warnings.catch_warnings():
    # The parameter is marked beta; the behaviour we rely on (no error before the first day) is
    # covered by mlops_tests/test_definitions.py.
    warnings.simplefilter("ignore")
    ACTUALS_BEFORE_ORIGIN = dg.TimeWindowPartitionMapping(
        start_offset=-LOOKBACK_DAYS,
        end_offset=-1,
        # The first days of the calendar have a shorter history: null features, not an error.
        allow_nonexistent_upstream_partitions=True,
    )
# Same day on both calendars (a forecast for D and the actuals of D, or the forecast inputs of D).
SAME_DAY = dg.TimeWindowPartitionMapping()
