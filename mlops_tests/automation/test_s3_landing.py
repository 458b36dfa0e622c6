"""A landing zone in an S3 bucket, served by a real local S3 server: the push sensor lists it
through dagster-aws, and ingestion fetches the day's files from it."""

from collections.abc import Iterator
from datetime import date, timedelta

import boto3
import dagster as dg
import pytest

from mlops_assets.cli import write_landing_days
from mlops_assets.definitions import defs
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.object_store import LISTING_GRACE, LandingLedger
from mlops_assets.settings import Settings
from mlops_tests.s3_server import client_env, s3_server

DAY = date(2025, 3, 3)


@pytest.fixture
def bucket(mlops_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[object]:
    with s3_server() as endpoint:
        for name, value in {
            **client_env(endpoint),
            "MLOPS_SOURCE": "landing",
            "MLOPS_LANDING_URI": "s3://landing-bucket/incoming",
            "MLOPS_CONSUMER_TYPES": "2",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="landing-bucket")
        staging = tmp_path / "upload"
        config = GeneratorConfig(n_consumer_types=2)
        write_landing_days(staging, DAY, DAY, config, None, ["consumption", "weather"], "csv")
        for path in sorted(staging.iterdir()):
            s3.upload_file(str(path), "landing-bucket", f"incoming/{path.name}")
        s3.put_object(Bucket="landing-bucket", Key="incoming/readme.txt", Body=b"hello")
        s3.put_object(Bucket="landing-bucket", Key="elsewhere/weather_2025-03-04.csv", Body=b"x")
        yield s3


def test_the_sensor_lists_the_bucket_and_ingestion_fetches_from_it(bucket: object) -> None:
    settings = Settings.from_env()
    definitions = defs()
    sensor = definitions.resolve_sensor_def("landing_zone_sensor")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=definitions)
        result = sensor.evaluate_tick(context)

        selections = sorted(r.asset_selection[0].to_user_string() for r in result.run_requests)
        assert selections == ["raw_consumption", "raw_weather"]
        for request in result.run_requests:
            assert request.tags["dagster/asset_partition_range_start"] == DAY.isoformat()
            assert "s3://landing-bucket/incoming" in request.tags["trigger_reason"]
            run = definitions.resolve_job_def("ingestion_job").execute_in_process(
                instance=instance, tags=request.tags, asset_selection=request.asset_selection
            )
            assert run.success

        again = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=result.cursor, definitions=definitions
            )
        )
        assert not again.run_requests

    lake = Lake(settings.lake_dir)
    assert lake.days("raw_consumption") == [DAY] and lake.days("raw_weather") == [DAY]
    assert (settings.landing_dir / f"consumption_{DAY}.csv").exists()  # fetched copy


def _tick(instance: dg.DagsterInstance, definitions: object, cursor: str | None) -> object:
    sensor = definitions.resolve_sensor_def("landing_zone_sensor")  # type: ignore[attr-defined]
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions)
    return sensor.evaluate_tick(context)


def _requested(result: object) -> list[str]:
    return sorted(r.asset_selection[0].to_user_string() for r in result.run_requests)  # type: ignore[attr-defined]


def test_the_sensor_requests_an_object_listed_after_its_date_once_and_a_reupload_again(
    bucket: object,
) -> None:
    heads = {
        name: bucket.head_object(Bucket="landing-bucket", Key=f"incoming/{name}")  # type: ignore[attr-defined]
        for name in (f"consumption_{DAY}.csv", f"weather_{DAY}.csv", "readme.txt")
    }
    newest = max(h["LastModified"] for h in heads.values())
    # Another object, handled 10 minutes after these were dated, set the mark: they were
    # listed late (a multipart upload, a replica), yet they are inside the grace window.
    mark = int(newest.timestamp() + 600) * 1_000_000_000
    assert timedelta(minutes=10) < LISTING_GRACE
    definitions = defs()
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(instance, definitions, LandingLedger(mark_ns=mark).encode())
        assert _requested(first) == ["raw_consumption", "raw_weather"]
        ledger = LandingLedger.decode(first.cursor)
        assert ledger.mark_ns == mark
        assert {n: e for n, (e, _) in ledger.seen.items()} == {
            n: h["ETag"] for n, h in heads.items()
        }

        again = _tick(instance, definitions, first.cursor)
        assert not again.run_requests  # each (key, ETag) is handled once

        bucket.put_object(  # type: ignore[attr-defined]
            Bucket="landing-bucket", Key=f"incoming/consumption_{DAY}.csv", Body=b"new content"
        )
        reupload = _tick(instance, definitions, again.cursor)
        assert _requested(reupload) == ["raw_consumption"]
        assert not _tick(instance, definitions, reupload.cursor).run_requests


def test_the_sensor_takes_over_a_cursor_of_the_earlier_watermark_format(bucket: object) -> None:
    head = bucket.head_object(Bucket="landing-bucket", Key=f"incoming/weather_{DAY}.csv")  # type: ignore[attr-defined]
    # The earlier cursor: everything up to (LastModified, name) of the newest file was handled.
    legacy = f"{int(head['LastModified'].timestamp()) * 1_000_000_000}:weather_{DAY}.csv"
    definitions = defs()
    with dg.DagsterInstance.ephemeral() as instance:
        result = _tick(instance, definitions, legacy)
        assert not result.run_requests
        ledger = LandingLedger.decode(result.cursor)
        # readme.txt too: skipped with a warning once, like every other name it has handled.
        assert set(ledger.seen) == {f"consumption_{DAY}.csv", f"weather_{DAY}.csv", "readme.txt"}

        bucket.put_object(  # type: ignore[attr-defined]
            Bucket="landing-bucket", Key=f"incoming/weather_{DAY}.csv", Body=b"new content"
        )
        assert _requested(_tick(instance, definitions, result.cursor)) == ["raw_weather"]
