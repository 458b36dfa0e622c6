"""A landing zone in a bucket, against a real local S3 server: a fetched file remembers its
object, a rejected object moves to the bucket's quarantine prefix with its reasons and is not
fetched again, and the push sensor's ledger of (key, ETag) pairs misses no late object."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import polars as pl
import pytest

from mlops_assets.lib.generator import GeneratorConfig, generate_consumption
from mlops_assets.lib.ingest import IngestPolicy, ingest_day
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing_zone import write_file
from mlops_assets.lib.object_store import (
    LISTING_GRACE,
    LandingLedger,
    LandingObject,
    S3Location,
    fetch_day,
    list_landing_objects,
    quarantine_object,
)
from mlops_assets.lib.schema import CONSUMPTION, TOTAL_CON
from mlops_assets.lib.sources import SourceConfig, deliveries
from mlops_assets.lib.validation import Limits
from mlops_tests.s3_server import client_env, s3_server

DAY = date(2025, 1, 10)
CONFIG = GeneratorConfig(n_consumer_types=3)
URI = "s3://landing/incoming"
NAME = f"consumption_{DAY}.csv"
QUARANTINED = f"incoming/quarantine/consumption/{DAY}/"
SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in client_env(endpoint).items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="landing")
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="landing"):
        for item in page.get("Contents", []):
            client.delete_object(Bucket="landing", Key=item["Key"])
    client.delete_bucket(Bucket="landing")


def keys(s3: object) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="landing")  # type: ignore[attr-defined]
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def read(s3: object, key: str) -> bytes:
    return s3.get_object(Bucket="landing", Key=key)["Body"].read()  # type: ignore[attr-defined]


def upload(s3: object, tmp_path: Path, frame: pl.DataFrame, name: str = NAME) -> None:
    path = write_file(frame, tmp_path / "upload" / name)
    s3.upload_file(str(path), "landing", f"incoming/{name}")  # type: ignore[attr-defined]


def consumption() -> pl.DataFrame:
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    return generate_consumption(start, start + timedelta(days=1), CONFIG)


def negative() -> pl.DataFrame:
    frame = consumption()
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(-5.0)
        .otherwise(pl.col(TOTAL_CON))
        .alias(TOTAL_CON)
    )


def source(tmp_path: Path) -> SourceConfig:
    return SourceConfig(
        kind="landing",
        landing_dir=tmp_path / "landing",
        generator=CONFIG,
        landing_uri=URI,
        settle_seconds=0,
    )


def policy(tmp_path: Path) -> IngestPolicy:
    return IngestPolicy(
        limits=Limits(), price_areas=("DK1", "DK2"), quarantine_dir=tmp_path / "quarantine"
    )


@pytest.mark.parametrize("garbage", [False, True], ids=["negative TotalCon", "garbage bytes"])
def test_a_rejected_object_moves_to_the_quarantine_prefix_and_is_not_fetched_again(
    s3: object, tmp_path: Path, garbage: bool
) -> None:
    if garbage:
        s3.put_object(Bucket="landing", Key=f"incoming/{NAME}", Body=b"\x00\xff not,a\ncsv\x00")  # type: ignore[attr-defined]
    else:
        upload(s3, tmp_path, negative())
    rejected = read(s3, f"incoming/{NAME}")
    config = source(tmp_path)

    delivered = deliveries(config, CONSUMPTION, DAY)
    assert [d.remote for d in delivered] == [f"{URI}/{NAME}"]
    result = ingest_day(CONSUMPTION, DAY, delivered, Lake(tmp_path / "lake"), policy(tmp_path))

    assert not result.accepted
    assert keys(s3) == [
        f"{QUARANTINED}{NAME}",
        f"{QUARANTINED}{NAME}.reason.json",
        f"{QUARANTINED}{NAME}.reason.txt",
    ]
    assert read(s3, f"{QUARANTINED}{NAME}") == rejected
    reason = json.loads(read(s3, f"{QUARANTINED}{NAME}.reason.json"))
    assert reason["partition"] == DAY.isoformat() and reason["failed_rules"]
    assert read(s3, f"{QUARANTINED}{NAME}.reason.txt").decode().strip()

    # The next run finds nothing: no fetch, no second quarantine, locally or in the bucket.
    assert deliveries(config, CONSUMPTION, DAY) == []
    assert [p.name for p in config.landing_dir.iterdir()] == []
    assert len(keys(s3)) == 3
    assert len(list((tmp_path / "quarantine" / "consumption" / DAY.isoformat()).iterdir())) == 3


def test_an_accepted_object_stays_and_its_delivery_names_it(s3: object, tmp_path: Path) -> None:
    upload(s3, tmp_path, consumption())
    upload(s3, tmp_path, consumption().head(0), f"weather_{DAY}.csv")  # another dataset
    config = source(tmp_path)

    fetched = fetch_day(URI, config.landing_dir, "consumption", DAY)
    delivered = deliveries(config, CONSUMPTION, DAY)
    result = ingest_day(CONSUMPTION, DAY, delivered, Lake(tmp_path / "lake"), policy(tmp_path))

    assert result.accepted
    assert [(f.path.name, f.remote) for f in fetched] == [(NAME, f"{URI}/{NAME}")]
    head = s3.head_object(Bucket="landing", Key=f"incoming/{NAME}")  # type: ignore[attr-defined]
    assert fetched[0].etag == head["ETag"]
    # Dated with the object's LastModified, so its age is the object's, not the download's.
    assert int(fetched[0].path.stat().st_mtime) == int(head["LastModified"].timestamp())
    assert [d.remote for d in delivered] == [f"{URI}/{NAME}"]
    assert keys(s3) == [f"incoming/{NAME}", f"incoming/weather_{DAY}.csv"]


def test_a_name_taken_in_the_quarantine_keeps_both_objects(s3: object, tmp_path: Path) -> None:
    s3.put_object(Bucket="landing", Key=f"{QUARANTINED}{NAME}", Body=b"the first rejection")  # type: ignore[attr-defined]
    s3.put_object(Bucket="landing", Key=f"{QUARANTINED}consumption_{DAY}.1.csv", Body=b"second")  # type: ignore[attr-defined]
    upload(s3, tmp_path, negative())
    config = source(tmp_path)

    delivered = deliveries(config, CONSUMPTION, DAY)
    ingest_day(CONSUMPTION, DAY, delivered, Lake(tmp_path / "lake"), policy(tmp_path))

    third = f"{QUARANTINED}consumption_{DAY}.2.csv"
    assert keys(s3) == sorted(
        [
            f"{QUARANTINED}{NAME}",
            f"{QUARANTINED}consumption_{DAY}.1.csv",
            third,
            f"{third}.reason.json",
            f"{third}.reason.txt",
        ]
    )
    assert read(s3, f"{QUARANTINED}{NAME}") == b"the first rejection"
    assert read(s3, f"{QUARANTINED}consumption_{DAY}.1.csv") == b"second"


def test_an_object_replaced_after_the_fetch_stays_for_the_next_run(
    s3: object, tmp_path: Path
) -> None:
    upload(s3, tmp_path, negative())
    rejected = read(s3, f"incoming/{NAME}")
    config = source(tmp_path)
    delivered = deliveries(config, CONSUMPTION, DAY)
    fixed = tmp_path / "fixed.csv"
    consumption().write_csv(fixed)
    s3.upload_file(str(fixed), "landing", f"incoming/{NAME}")  # type: ignore[attr-defined]

    ingest_day(CONSUMPTION, DAY, delivered, Lake(tmp_path / "lake"), policy(tmp_path))

    # The rejected bytes are kept from the local copy; the fixed object is a new delivery.
    assert read(s3, f"{QUARANTINED}{NAME}") == rejected
    assert read(s3, f"incoming/{NAME}") == fixed.read_bytes()
    assert f"{QUARANTINED}{NAME}.reason.json" in keys(s3)


def test_quarantine_object_returns_the_new_uri_and_refuses_other_names(
    s3: object, tmp_path: Path
) -> None:
    upload(s3, tmp_path, consumption())
    fetched = fetch_day(URI, tmp_path / "landing", "consumption", DAY)
    local = tmp_path / "q" / NAME
    local.parent.mkdir()
    fetched[0].path.replace(local)  # a rename keeps the date, as landing_zone.quarantine does

    assert quarantine_object(fetched[0].remote, local) == f"s3://landing/{QUARANTINED}{NAME}"
    assert keys(s3) == [f"{QUARANTINED}{NAME}"]  # no reason files beside it: none uploaded
    with pytest.raises(ValueError, match="landing object"):
        quarantine_object("s3://landing/incoming/readme.txt", local)
    with pytest.raises(ValueError, match="s3://bucket/key"):
        quarantine_object("/tmp/consumption.csv", local)


def test_quarantined_objects_are_never_landing_files(s3: object, tmp_path: Path) -> None:
    where = S3Location.parse(URI)
    assert where.name_of(f"incoming/{NAME}") == NAME
    assert where.name_of(f"{QUARANTINED}{NAME}") is None
    assert where.name_of(f"{QUARANTINED}{NAME}.reason.json") is None
    s3.put_object(Bucket="landing", Key=f"{QUARANTINED}{NAME}", Body=b"x")  # type: ignore[attr-defined]
    s3.put_object(Bucket="landing", Key=f"incoming/quarantine/{NAME}", Body=b"x")  # type: ignore[attr-defined]

    assert list_landing_objects(URI, None) == []
    assert fetch_day(URI, tmp_path / "landing", "consumption", DAY) == []


# The sensor's ledger, on listings made up here (the sensor test lists a real bucket).
T = 1_750_000_000 * SECOND
GRACE = int(LISTING_GRACE.total_seconds()) * SECOND


def obj(name: str, etag: str, at: int) -> LandingObject:
    return LandingObject(name, f'"{etag}"', at)


def test_an_object_listed_late_is_still_new_within_the_grace_window() -> None:
    ledger = LandingLedger.decode(LandingLedger(mark_ns=T).encode())
    late = obj(f"weather_{DAY}.csv", "a", T - GRACE // 2)  # dated before the mark
    too_late = obj(f"weather_{DAY}_old.csv", "b", T - GRACE - SECOND)

    assert ledger.pending([late, too_late]) == [(late.name, late.modified_ns)]
    assert ledger.since == datetime.fromtimestamp((T - GRACE) // SECOND - 1, tz=UTC)


def test_a_handled_pair_is_not_new_again_but_a_reupload_is() -> None:
    first = obj(NAME, "a", T)
    ledger = LandingLedger()
    assert ledger.since is None
    assert ledger.pending([first]) == [(NAME, T)]
    ledger = LandingLedger.decode(ledger.advance([NAME]).encode())
    assert (ledger.mark_ns, ledger.seen) == (T, {NAME: ('"a"', T)})

    assert ledger.pending([first]) == []
    reupload = obj(NAME, "b", T)  # same second, new content
    assert ledger.pending([reupload]) == [(NAME, T)]


def test_files_left_for_the_next_tick_stay_new() -> None:
    a, b = obj("consumption_2025-01-01.csv", "a", T), obj("consumption_2025-01-02.csv", "b", T)
    ledger = LandingLedger()
    ledger.pending([a, b])
    ledger = ledger.advance([a.name])  # b did not fit this tick
    assert ledger.pending([a, b]) == [(b.name, T)]


def test_the_ledger_forgets_pairs_older_than_the_grace_window() -> None:
    old, new = obj("a_2025-01-01.csv", "a", T), obj("a_2025-01-02.csv", "b", T + 2 * GRACE)
    ledger = LandingLedger()
    ledger.pending([old])
    ledger = ledger.advance([old.name])
    ledger.pending([old, new])
    ledger = ledger.advance([new.name])

    assert set(ledger.seen) == {new.name}
    assert ledger.pending([old, new]) == []  # older than the window: handled by the mark


def test_a_cursor_of_the_earlier_watermark_format_decodes() -> None:
    handled, later = obj("a_2025-01-01.csv", "a", T), obj("b_2025-01-01.csv", "b", T)
    ledger = LandingLedger.decode(f"{T}:{handled.name}")
    assert ledger.mark_ns == T

    assert ledger.pending([handled, later]) == [(later.name, T)]
    ledger = LandingLedger.decode(ledger.advance([later.name]).encode())
    assert ledger.seen == {handled.name: ('"a"', T), later.name: ('"b"', T)}
    assert LandingLedger.decode(None) == LandingLedger() == LandingLedger.decode("")
    assert LandingLedger.decode("-1:").pending([handled]) == [(handled.name, T)]
