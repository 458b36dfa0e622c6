"""Every kind of bad input is stopped by a blocking check, quarantined, and loses nothing."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.lib.generator import Defects, GeneratorConfig
from mlops_assets.lib.lake import Lake
from mlops_assets.settings import Settings
from mlops_tests.helpers import CONSUMPTION_ONLY, land, materialize, step_events, warehouse_rows

GOOD_DAYS = (date(2025, 2, 3), date(2025, 2, 4))
BAD_DAY = date(2025, 2, 4)
ROWS_PER_DAY = 24 * 2 * 4


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    column: str | None
    fmt: str
    defects: Defects | None = None
    shift_days: int = 0
    garbage: bool = False
    consumer_types: int = 4
    zero: bool = False


CASES = [
    Case("missing_hours", "completeness", "HourUTC", "csv", Defects(missing_hours=0.25)),
    Case(
        "duplicates",
        "uniqueness",
        "HourUTC, PriceArea, ConsumerType_DE35",
        "parquet",
        Defects(duplicate_rows=5),
    ),
    Case("negative_values", "validity", "TotalCon", "json", Defects(negative_values=3)),
    Case("absurd_values", "validity", "TotalCon", "csv", Defects(absurd_values=2)),
    Case(
        "renamed_column",
        "schema",
        "TotalCon",
        "parquet",
        Defects(rename_columns={"TotalCon": "TotalConsumption"}),
    ),
    Case("missing_column", "schema", "PriceArea", "json", Defects(drop_columns=("PriceArea",))),
    Case("wrong_types", "schema", "TotalCon", "csv", Defects(wrong_types=("TotalCon",))),
    Case("rows_of_another_day", "timeliness", "HourUTC", "parquet", shift_days=1),
    Case("unreadable_file", "schema", None, "json", garbage=True),
    Case(
        "segments_lost",
        "expected_segments",
        "PriceArea, ConsumerType_DE35",
        "csv",
        consumer_types=2,
    ),
    Case("all_zero", "plausibility", "TotalCon", "parquet", zero=True),
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder whose lake and warehouse hold two good days, built once for the module."""
    data_dir = tmp_path_factory.mktemp("baseline") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_DATA_DIR", str(data_dir))
        mp.setenv("MLOPS_SOURCE", "landing")
        mp.setenv("MLOPS_LANDING_SETTLE_SECONDS", "0")
        settings = Settings.from_env()
        for day in GOOD_DAYS:
            land(settings, day, "csv")
        first, last = (d.isoformat() for d in GOOD_DAYS)
        result = materialize(settings, days=(first, last), selection=CONSUMPTION_ONLY)
        assert result.success
        yield data_dir


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_delivery_is_stopped_quarantined_and_loses_nothing(
    case: Case, baseline: Path, landing_env: Settings
) -> None:
    shutil.copytree(baseline, landing_env.data_dir)
    lake = Lake(landing_env.lake_dir)
    before = {d: lake.partition_path("raw_consumption", d).read_bytes() for d in GOOD_DAYS}
    staged_before = warehouse_rows(landing_env, "stg_consumption", [BAD_DAY.isoformat()])
    bad_file = _deliver_bad_file(landing_env, case)

    result = materialize(landing_env, BAD_DAY.isoformat(), selection=CONSUMPTION_ONLY)

    # The blocking check failed and stopped the dbt staging step.
    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.check_name for c in failed] == [case.rule]
    assert "staging_models" not in step_events(result, "STEP_SUCCESS")
    assert "staging_models" not in step_events(result, "STEP_START")
    message = failed[0].description or ""
    assert BAD_DAY.isoformat() in message and bad_file.name in message
    if case.column:
        assert repr(case.column) in message
    # The file is in quarantine, with a reason naming partition, rule and column.
    assert not bad_file.exists()
    held = landing_env.quarantine_dir / "consumption" / BAD_DAY.isoformat() / bad_file.name
    assert held.exists()
    reason = Path(f"{held}.reason.txt").read_text()
    assert f"[{case.rule}]" in reason and BAD_DAY.isoformat() in reason
    # Good data is untouched: lake files byte for byte, staged rows too.
    for day, content in before.items():
        assert lake.partition_path("raw_consumption", day).read_bytes() == content
    assert warehouse_rows(landing_env, "stg_consumption", [BAD_DAY.isoformat()]) == staged_before
    assert staged_before == ROWS_PER_DAY
    if case.rule == "expected_segments":
        # Its own metadata: what was expected, what came, from where.
        meta = failed[0].metadata
        assert meta["segments_expected"].value == 8 and meta["segments_missing"].value == 4
        assert "the stored partition it replaces" in meta["coverage"].value


def test_good_days_of_a_partly_bad_range_are_kept(landing_env: Settings) -> None:
    days = [date(2025, 2, d) for d in (10, 11, 12)]
    land(landing_env, days[0])
    land(landing_env, days[1], defects=Defects(negative_values=1))
    land(landing_env, days[2])
    instance = dg.DagsterInstance.ephemeral()

    result = materialize(
        landing_env,
        days=(days[0].isoformat(), days[-1].isoformat()),
        selection=CONSUMPTION_ONLY,
        instance=instance,
    )

    assert not result.success
    assert Lake(landing_env.lake_dir).days("raw_consumption") == [days[0], days[2]]
    assert instance.get_materialized_partitions(dg.AssetKey("raw_consumption")) == {
        days[0].isoformat(),
        days[2].isoformat(),
    }
    quarantined = landing_env.quarantine_dir / "consumption" / days[1].isoformat()
    assert [p.name for p in quarantined.glob("*.csv")] == ["consumption_2025-02-11.csv"]


def _deliver_bad_file(settings: Settings, case: Case) -> Path:
    """Re-deliver the bad day under its landing name, replacing the good file."""
    for old in settings.landing_dir.glob(f"consumption_{BAD_DAY.isoformat()}.*"):
        old.unlink()
    if case.garbage:
        path = settings.landing_dir / f"consumption_{BAD_DAY.isoformat()}.{case.fmt}"
        path.write_bytes(b"\x00\x01 this is not a data file {")
        return path
    if case.shift_days:
        # Rows of the next day delivered under this day's name.
        shifted = land(settings, date.fromordinal(BAD_DAY.toordinal() + case.shift_days), case.fmt)
        target = settings.landing_dir / shifted.name.replace(
            shifted.name.split("_")[1].split(".")[0], BAD_DAY.isoformat()
        )
        return shifted.rename(target)
    path = land(
        settings,
        BAD_DAY,
        case.fmt,
        defects=case.defects,
        config=GeneratorConfig(n_consumer_types=case.consumer_types),
    )
    if case.zero:
        zeros = pl.read_parquet(path).with_columns(pl.lit(0.0).alias("TotalCon"))
        zeros.write_parquet(path)
    return path
