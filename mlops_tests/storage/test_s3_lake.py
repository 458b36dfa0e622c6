"""The lake mirrored to an S3 bucket on a real local S3 server: writes reach the bucket, and a
machine with an empty local cache reads the partitions back from it."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import polars as pl
import pytest

from mlops_assets.lib.lake import Lake
from mlops_assets.lib.object_store import S3Mirror
from mlops_tests.s3_server import client_env, s3_server

DAYS = [date(2025, 3, 1), date(2025, 3, 2)]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with s3_server() as endpoint:
        for name, value in client_env(endpoint).items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3")
        client.create_bucket(Bucket="lake")
        yield client


def test_partitions_are_mirrored_and_read_back_on_an_empty_cache(s3, tmp_path: Path) -> None:
    writer = Lake(tmp_path / "machine_a", S3Mirror("s3://lake/prod", s3))
    frames = {d: pl.DataFrame({"day": [d.isoformat()], "value": [float(d.day)]}) for d in DAYS}
    for day, frame in frames.items():
        writer.write("raw_consumption", day, frame)

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"])  # type: ignore[attr-defined]
    assert keys == [f"prod/raw_consumption/day={d}/data.parquet" for d in DAYS]

    reader = Lake(tmp_path / "machine_b", S3Mirror("s3://lake/prod", s3))
    assert reader.days("raw_consumption") == DAYS
    assert not reader.partition_path("raw_consumption", DAYS[0]).exists()
    back = reader.read("raw_consumption", DAYS)
    assert back is not None and back.equals(pl.concat(frames.values()))
    assert reader.partition_path("raw_consumption", DAYS[0]).exists()  # now cached locally
    assert reader.read("raw_consumption", [date(2025, 3, 9)]) is None  # absent everywhere


def test_without_a_mirror_the_lake_stays_local(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("raw_weather", DAYS[0], pl.DataFrame({"x": [1]}))
    assert lake.days("raw_weather") == [DAYS[0]]
    assert lake.ensure_local("raw_weather", DAYS) == [lake.partition_path("raw_weather", DAYS[0])]
