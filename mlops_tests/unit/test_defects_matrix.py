"""The defects matrix: a day already ingested good is re-sent as a bad file, in every kind of
breakage we know, through a local and an S3 landing zone. Each kind is stopped by its named rule
(file, partition, column), the file is quarantined with a reason, and the lake stays
byte-identical."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib.generator import GeneratorConfig, generate_consumption
from mlops_assets.lib.ingest import DayResult, IngestPolicy, ingest_day, table_name
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.schema import (
    CONSUMER_TYPE,
    CONSUMPTION,
    HOUR_DK,
    HOUR_UTC,
    PRICE_AREA,
    TOTAL_CON,
)
from mlops_assets.lib.sources import SourceConfig, deliveries
from mlops_assets.lib.validation import Limits, day_window
from mlops_tests.s3_server import client_env, s3_server

CONFIG = GeneratorConfig(n_consumer_types=4)
BAD_DAY = date(2025, 2, 10)
GOOD_DAYS = [BAD_DAY - timedelta(days=i) for i in range(8, -1, -1)]  # 8 days of history + it
TABLE = table_name(CONSUMPTION)
BUCKET, PREFIX = "landing-bucket", "incoming"


def good_day() -> pl.DataFrame:
    return generate_consumption(*day_window(BAD_DAY), CONFIG)


def as_csv(df: pl.DataFrame) -> bytes:
    return df.write_csv().encode()


def as_parquet(df: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.write_parquet(buffer)
    return buffer.getvalue()


def as_json(df: pl.DataFrame) -> bytes:
    path_free = df.with_columns(pl.selectors.temporal().dt.strftime("%Y-%m-%dT%H:%M:%S"))
    return json.dumps({"records": path_free.to_dicts()}).encode()


WRITERS = {"csv": as_csv, "parquet": as_parquet, "json": as_json}


def changed(fmt: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[], bytes]:
    return lambda: WRITERS[fmt](change(good_day()))


def text(fmt: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[], bytes]:
    """The day with every column as text, changed, then written."""
    return lambda: WRITERS[fmt](change(good_day().cast(pl.String)))


def raw(content: bytes) -> Callable[[], bytes]:
    return lambda: content


def danish_csv(df: pl.DataFrame) -> bytes:
    """Energi Data Service's own download format: ';' and a decimal comma."""
    out = df.with_columns(pl.col(TOTAL_CON).cast(pl.String).str.replace(".", ",", literal=True))
    return out.write_csv(separator=";").encode()


def each_row(column: str, value: object, rows: int = 3) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(df: pl.DataFrame) -> pl.DataFrame:
        hit = pl.int_range(pl.len()) < rows
        return df.with_columns(
            pl.when(hit).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
        )

    return change


def one_segment(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(
        (pl.col(PRICE_AREA) == "DK1") & (pl.col(CONSUMER_TYPE) == df[CONSUMER_TYPE].min())
    )


def flat(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col(TOTAL_CON).mean().over(PRICE_AREA, CONSUMER_TYPE))


def truncated_parquet() -> bytes:
    whole = as_parquet(good_day())
    return whole[: len(whole) // 2]


def oversized(df: pl.DataFrame) -> pl.DataFrame:
    return df.cast({PRICE_AREA: pl.String}).with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit("D" * 5_000_000))
        .otherwise(pl.col(PRICE_AREA))
        .alias(PRICE_AREA)
    )


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    column: str | None
    fmt: str
    content: Callable[[], bytes]
    also: tuple[str, ...] = ()  # other rules the same file breaks
    # Instead of a file with `content`, an entry only a file system has (a link, a folder, a
    # FIFO), made at the landing path: local zones only.
    entry: Callable[[Path], None] | None = None


def link_to(target: Callable[[Path], Path]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.symlink_to(target(path))

    return make


def outside_file(path: Path) -> Path:
    secret = path.parent.parent / "secret.csv"
    secret.write_text("the content of a file outside the landing zone\n")
    return secret


def inside_file(path: Path) -> Path:
    good = path.parent / "good_copy.txt"
    good.write_bytes(as_csv(good_day()))
    return good


SEGMENT = f"{PRICE_AREA}, {CONSUMER_TYPE}"
KEY = f"{HOUR_UTC}, {PRICE_AREA}, {CONSUMER_TYPE}"
CASES = [
    # schema: reading and parsing
    Case(
        "renamed_column",
        "schema",
        TOTAL_CON,
        "parquet",
        changed("parquet", lambda d: d.rename({TOTAL_CON: "Total"})),
    ),
    Case(
        "missing_column",
        "schema",
        PRICE_AREA,
        "json",
        changed("json", lambda d: d.drop(PRICE_AREA)),
    ),
    Case(
        "extra_column",
        "schema",
        "Comment",
        "csv",
        changed("csv", lambda d: d.with_columns(Comment=pl.lit("x"))),
    ),
    Case("text_in_numbers", "schema", TOTAL_CON, "csv", text("csv", each_row(TOTAL_CON, "n/a"))),
    Case(
        "unparseable_hour_text",
        "schema",
        HOUR_UTC,
        "csv",
        text("csv", lambda d: d.with_columns(pl.lit("yesterday at noon").alias(HOUR_UTC))),
    ),
    Case(
        "mixed_date_formats",
        "schema",
        HOUR_UTC,
        "csv",
        text("csv", each_row(HOUR_UTC, "10/02/2025 00:00", rows=50)),
    ),
    Case("oversized_field", "schema", PRICE_AREA, "csv", changed("csv", oversized)),
    Case("garbage_json", "schema", None, "json", raw(b"\x00\x01 this is not a data file {")),
    Case("garbage_parquet", "schema", None, "parquet", raw(os.urandom(2048))),
    Case("truncated_parquet", "schema", None, "parquet", truncated_parquet),
    Case(
        "invalid_utf8",
        "schema",
        None,
        "csv",
        lambda: as_csv(good_day()).replace(b"DK1", b"DK\xff\xfe", 3),
    ),
    Case("utf16_csv", "schema", None, "csv", lambda: as_csv(good_day()).decode().encode("utf-16")),
    Case("empty_file", "schema", None, "csv", raw(b"")),
    Case("json_without_records", "schema", None, "json", raw(b'{"data": 1}')),
    # intake: entries that are not regular files are never opened nor followed
    Case("symlink_outside", "schema", None, "csv", raw(b""), entry=link_to(outside_file)),
    Case("symlink_inside", "schema", None, "csv", raw(b""), entry=link_to(inside_file)),
    Case("directory", "schema", None, "parquet", raw(b""), entry=lambda p: p.mkdir()),
    Case("fifo", "schema", None, "csv", raw(b""), entry=lambda p: os.mkfifo(p)),
    # completeness
    Case(
        "missing_hours",
        "completeness",
        HOUR_UTC,
        "csv",
        changed("csv", lambda d: d.filter(pl.col(HOUR_UTC).dt.hour() < 20)),
    ),
    Case(
        "null_values",
        "completeness",
        TOTAL_CON,
        "parquet",
        changed("parquet", each_row(TOTAL_CON, None)),
    ),
    Case(
        "header_only",
        "completeness",
        None,
        "csv",
        changed("csv", lambda d: d.clear()),
        also=("expected_segments",),
    ),
    Case(
        "missing_price_area",
        "completeness",
        PRICE_AREA,
        "parquet",
        changed("parquet", lambda d: d.filter(pl.col(PRICE_AREA) == "DK1")),
        also=("expected_segments",),
    ),
    # uniqueness
    Case(
        "duplicate_rows",
        "uniqueness",
        KEY,
        "parquet",
        changed("parquet", lambda d: pl.concat([d, d.head(5)])),
    ),
    # validity
    Case(
        "negative_values", "validity", TOTAL_CON, "json", changed("json", each_row(TOTAL_CON, -5.0))
    ),
    Case("absurd_values", "validity", TOTAL_CON, "csv", changed("csv", each_row(TOTAL_CON, 1e12))),
    Case(
        "nan_values",
        "validity",
        TOTAL_CON,
        "parquet",
        changed("parquet", each_row(TOTAL_CON, float("nan"))),
    ),
    Case(
        "infinite_values",
        "validity",
        TOTAL_CON,
        "csv",
        changed("csv", each_row(TOTAL_CON, float("inf"))),
    ),
    Case(
        "unknown_price_area",
        "validity",
        PRICE_AREA,
        "csv",
        changed("csv", lambda d: d.with_columns(pl.col(PRICE_AREA).replace("DK2", "DK3"))),
        also=("completeness", "expected_segments"),
    ),
    Case(
        "negative_consumer_type",
        "validity",
        CONSUMER_TYPE,
        "json",
        changed(
            "json",
            lambda d: d.with_columns(
                pl.when(pl.col(CONSUMER_TYPE) == d[CONSUMER_TYPE].min())
                .then(-111)
                .otherwise(pl.col(CONSUMER_TYPE))
                .alias(CONSUMER_TYPE)
            ),
        ),
        also=("expected_segments",),
    ),
    # timeliness
    Case(
        "rows_of_another_day",
        "timeliness",
        HOUR_UTC,
        "parquet",
        changed(
            "parquet",
            lambda d: d.with_columns(
                pl.col(HOUR_UTC) + timedelta(days=1), pl.col(HOUR_DK) + timedelta(days=1)
            ),
        ),
    ),
    Case(
        "local_time_disagrees",
        "timeliness",
        HOUR_DK,
        "csv",
        changed("csv", lambda d: d.with_columns(pl.col(HOUR_DK) - timedelta(hours=5))),
    ),
    Case(
        "not_on_the_hour",
        "timeliness",
        HOUR_UTC,
        "parquet",
        changed(
            "parquet",
            lambda d: d.with_columns(
                pl.col(HOUR_UTC) + timedelta(minutes=30), pl.col(HOUR_DK) + timedelta(minutes=30)
            ),
        ),
    ),
    # expected segments
    Case(
        "one_segment_of_eight",
        "expected_segments",
        SEGMENT,
        "csv",
        changed("csv", one_segment),
        also=("completeness",),  # and so no DK2 at all
    ),
    Case(
        "danish_format_one_segment",
        "expected_segments",
        SEGMENT,
        "csv",
        lambda: danish_csv(one_segment(good_day())),
        also=("completeness",),
    ),
    Case(
        "one_segment_dropped",
        "expected_segments",
        SEGMENT,
        "parquet",
        changed("parquet", lambda d: d.filter(pl.col(CONSUMER_TYPE) != d[CONSUMER_TYPE].max())),
    ),
    # plausibility
    Case(
        "all_zero",
        "plausibility",
        TOTAL_CON,
        "csv",
        changed("csv", lambda d: d.with_columns(pl.lit(0.0).alias(TOTAL_CON))),
    ),
    Case(
        "one_segment_zero",
        "plausibility",
        TOTAL_CON,
        "parquet",
        changed(
            "parquet",
            lambda d: d.with_columns(
                pl.when(pl.col(CONSUMER_TYPE) == d[CONSUMER_TYPE].min())
                .then(0.0)
                .otherwise(pl.col(TOTAL_CON))
                .alias(TOTAL_CON)
            ),
        ),
    ),
    Case("flat_lined", "plausibility", TOTAL_CON, "json", changed("json", flat)),
    Case(
        "level_ten_times",
        "plausibility",
        TOTAL_CON,
        "csv",
        changed("csv", lambda d: d.with_columns(pl.col(TOTAL_CON) * 10)),
    ),
    Case(
        "level_a_hundredth",
        "plausibility",
        TOTAL_CON,
        "parquet",
        changed("parquet", lambda d: d.with_columns(pl.col(TOTAL_CON) / 100)),
    ),
    Case(
        "level_a_tenth",
        "plausibility",
        TOTAL_CON,
        "csv",
        changed("csv", lambda d: d.with_columns(pl.col(TOTAL_CON) / 10)),
    ),
]


@pytest.fixture(scope="module")
def good_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding the bad day and the eight days before it, all good, built once."""
    root = tmp_path_factory.mktemp("good") / "lake"
    lake = Lake(root)
    for day in GOOD_DAYS:
        lake.write(
            TABLE, day, generate_consumption(*day_window(day), CONFIG).sort(list(CONSUMPTION.key))
        )
    return root


@dataclass
class Zone:
    """A landing zone (a folder, or a bucket fetched into one) over a copy of the good lake."""

    kind: str
    root: Path
    s3: object = None

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def source(self) -> SourceConfig:
        uri = f"s3://{BUCKET}/{PREFIX}" if self.kind == "s3" else ""
        return SourceConfig("landing", self.landing, CONFIG, landing_uri=uri, settle_seconds=0)

    def deliver(self, name: str, content: bytes) -> None:
        if self.kind == "s3":
            self.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}", Body=content)  # type: ignore[attr-defined]
        else:
            self.landing.mkdir(parents=True, exist_ok=True)
            (self.landing / name).write_bytes(content)

    def ingest(self, lake: Lake) -> DayResult:
        policy = IngestPolicy(
            limits=Limits(), price_areas=("DK1", "DK2"), quarantine_dir=self.quarantine
        )
        return ingest_day(
            CONSUMPTION, BAD_DAY, deliveries(self.source(), CONSUMPTION, BAD_DAY), lake, policy
        )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:

    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def zone(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Zone:
    if request.param == "local":
        return Zone("local", tmp_path)
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in client_env(endpoint).items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) if _exists(s3) else []:
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    if not _exists(s3):
        s3.create_bucket(Bucket=BUCKET)
    return Zone("s3", tmp_path, s3)


def _exists(s3: object) -> bool:
    return BUCKET in {b["Name"] for b in s3.list_buckets()["Buckets"]}  # type: ignore[attr-defined]


def test_the_matrix_has_at_least_thirty_kinds() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_resend_is_named_quarantined_and_loses_nothing(
    case: Case, zone: Zone, good_lake: Path
) -> None:
    shutil.copytree(good_lake, zone.root / "lake")
    lake = Lake(zone.root / "lake")
    before = {d: lake.partition_path(TABLE, d).read_bytes() for d in GOOD_DAYS}
    name = f"consumption_{BAD_DAY}.{case.fmt}"
    if case.entry is not None:
        if zone.kind == "s3":
            pytest.skip("a bucket holds objects only: no links, folders or FIFOs")
        zone.landing.mkdir(parents=True)
        case.entry(zone.landing / name)
    else:
        zone.deliver(name, case.content())

    result = zone.ingest(lake)

    # The named error: rule, column, file and partition.
    assert not result.accepted and not result.pending
    assert set(result.report.failed_rules()) <= {case.rule, *case.also}
    assert case.rule in result.report.failed_rules()
    named = result.report.for_rule(case.rule)
    if case.column is not None:
        assert case.column in {v.column for v in named}, result.report.describe()
    described = result.report.describe()
    assert name in described and BAD_DAY.isoformat() in described and f"[{case.rule}]" in described
    assert len(described) < 8_000  # no input is echoed whole
    # Quarantined with its reason; gone from the landing zone.
    assert not (zone.landing / name).exists() and not (zone.landing / name).is_symlink()
    [held] = result.quarantined
    assert held.parent == zone.quarantine / "consumption" / BAD_DAY.isoformat()
    reason = Path(f"{held}.reason.txt").read_text()
    assert f"[{case.rule}]" in reason and BAD_DAY.isoformat() in reason and name in reason
    assert json.loads(Path(f"{held}.reason.json").read_text())["partition"] == BAD_DAY.isoformat()
    assert Path(f"{held}.reason.txt").stat().st_size < 70_000
    # The lake, the bad day's stored partition included, is byte for byte what it was.
    assert {d: lake.partition_path(TABLE, d).read_bytes() for d in GOOD_DAYS} == before
    assert "outside the landing zone" not in reason
    assert lake.days(TABLE) == GOOD_DAYS
    if zone.kind == "s3":
        keys = {o["Key"] for o in zone.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}  # type: ignore[attr-defined]
        moved = f"{PREFIX}/quarantine/consumption/{BAD_DAY}/{name}"
        assert f"{PREFIX}/{name}" not in keys
        assert {moved, f"{moved}.reason.json", f"{moved}.reason.txt"} <= keys
