"""A landing zone in an S3 bucket, served by a real local S3 server: the push sensor lists it
through dagster-aws, and ingestion fetches the day's files from it."""

from collections.abc import Iterator
from datetime import date

import boto3
import dagster as dg
import pytest

from mlops_assets.cli import write_landing_days
from mlops_assets.definitions import defs
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.lib.lake import Lake
from mlops_assets.settings import Settings
from mlops_tests.s3_server import s3_server

DAY = date(2025, 3, 3)


@pytest.fixture
def bucket(mlops_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[object]:
    with s3_server() as endpoint:
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
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
