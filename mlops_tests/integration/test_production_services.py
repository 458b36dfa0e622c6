"""The full pipeline against real services on 127.0.0.1, switched by environment variables
only: Dagster storage in PostgreSQL (deploy/dagster.yaml), the landing zone in an S3 bucket,
Feast's registry in PostgreSQL and its online store in Redis, MLflow as a tracking server with a
PostgreSQL backend and artifacts proxied to S3. Results are read back through each service's own
client: SQLAlchemy, redis, boto3 and MlflowClient."""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.cli import write_landing_days
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.pipeline import Plan, StepResult, run_main_job
from mlops_assets.settings import PROJECT_ROOT, Settings
from mlops_tests import services
from mlops_tests.s3_server import s3_server

# The shortest history the main job takes: it trains before the last week and scores that week.
FIRST, LAST = date(2025, 4, 26), date(2025, 5, 31)
MLFLOW_PASSWORD = "integration-admin-secret"
TYPES = 3

missing = services.missing_servers()
if missing and not os.environ.get("CI"):
    pytest.skip(f"not installed here: {', '.join(missing)}", allow_module_level=True)


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    postgres: services.Postgres
    redis_port: int
    mlflow_url: str
    result: list[StepResult]

    @property
    def run_ids(self) -> list[str]:
        return [step.run_id for step in self.result]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("production")
    aws = {
        "AWS_ACCESS_KEY_ID": "integration",
        "AWS_SECRET_ACCESS_KEY": "integration-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with (
        pytest.MonkeyPatch.context() as mp,
        services.postgres_server(("mlflow", "mlflow_auth", "feast")) as pg,
        services.redis_server() as redis_port,
        s3_server() as s3_endpoint,
    ):
        import boto3

        for name, value in {**aws, "AWS_ENDPOINT_URL": s3_endpoint}.items():
            mp.setenv(name, value)
        s3 = boto3.client("s3")
        for bucket in ("landing", "lake", "mlflow-artifacts"):
            s3.create_bucket(Bucket=bucket)
        upload = root / "upload"
        config = GeneratorConfig(n_consumer_types=TYPES)
        write_landing_days(upload, FIRST, LAST, config, None, ["consumption", "weather"], "csv")
        one_day = timedelta(days=1)
        write_landing_days(
            upload, FIRST + one_day, LAST + one_day, config, None, ["weather_forecast"], "csv"
        )
        for path in sorted(upload.iterdir()):
            s3.upload_file(str(path), "landing", f"incoming/{path.name}")

        server_env = {
            **aws,
            "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
            "MLFLOW_AUTH_ADMIN_PASSWORD": MLFLOW_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "integration-csrf-key",
        }
        with services.mlflow_server(
            pg.uri("mlflow"),
            "s3://mlflow-artifacts",
            server_env,
            root / "mlflow.log",
            auth_uri=pg.uri("mlflow_auth"),
        ) as mlflow_url:
            home = root / "dagster_home"
            home.mkdir()
            shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
            env = {
                "DAGSTER_HOME": str(home),
                "DAGSTER_PG_HOST": "127.0.0.1",
                "DAGSTER_PG_PORT": str(pg.port),
                "DAGSTER_PG_USER": services.POSTGRES_USER,
                "DAGSTER_PG_PASSWORD": pg.password,
                "DAGSTER_PG_DB": "postgres",
                "MLOPS_DATA_DIR": str(root / "data"),
                "MLOPS_CONSUMER_TYPES": str(TYPES),
                "MLOPS_SOURCE": "landing",
                "MLOPS_LANDING_URI": "s3://landing/incoming",
                "MLOPS_LAKE_URI": "s3://lake/prod",
                "MLOPS_FEAST_REGISTRY": pg.uri("feast", "postgresql+psycopg"),
                "MLOPS_FEAST_ONLINE_REDIS": f"127.0.0.1:{redis_port}",
                "MLOPS_MLFLOW_TRACKING_URI": mlflow_url,
                # Basic auth is on: clients authenticate through MLflow's own variables.
                "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": MLFLOW_PASSWORD,
            }
            for name in [k for k in os.environ if k.startswith("MLOPS_")]:
                mp.delenv(name)
            for name, value in env.items():
                mp.setenv(name, value)
            from mlops_assets.definitions import defs

            with dg.DagsterInstance.get() as instance:
                result = run_main_job(defs(), instance, Plan(FIRST, LAST))
                yield Stack(Settings.from_env(), env, pg, redis_port, mlflow_url, result)


def test_the_whole_pipeline_succeeds_on_production_services(stack: Stack) -> None:
    assert [step.success for step in stack.result] == [True] * 6


def test_dagster_stored_the_run_and_its_events_in_postgres(stack: Stack) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(stack.postgres.uri("postgres"))
    with engine.connect() as db:
        statuses = (
            db.execute(
                sa.text("select status from runs where run_id in :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": stack.run_ids},
            )
            .scalars()
            .all()
        )
        materialized = db.execute(
            sa.text(
                "select count(distinct asset_key) from event_logs "
                "where dagster_event_type = 'ASSET_MATERIALIZATION' and run_id in :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": stack.run_ids},
        ).scalar_one()
    engine.dispose()
    assert statuses == ["SUCCESS"] * 6
    assert materialized == 15  # every asset of the graph


def test_ingestion_read_the_landing_bucket(stack: Stack) -> None:
    import boto3

    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="landing")["Contents"]]
    assert len(keys) == 3 * ((LAST - FIRST).days + 1)
    assert (stack.settings.landing_dir / f"consumption_{LAST}.csv").exists()


def test_the_lake_is_in_s3(stack: Stack) -> None:
    import boto3

    paginator = boto3.client("s3").get_paginator("list_objects_v2")
    keys = {o["Key"] for page in paginator.paginate(Bucket="lake") for o in page["Contents"]}
    n_days = (LAST - FIRST).days + 1
    for table in ("raw_consumption", "raw_weather", "prediction_performance"):
        assert f"prod/{table}/day={LAST}/data.parquet" in keys, table
    # Forecasts are issued for the day after the history too.
    for table in ("raw_weather_forecast", "predictions"):
        assert f"prod/{table}/day={LAST + timedelta(days=1)}/data.parquet" in keys, table
    assert sum(k.startswith("prod/raw_consumption/") for k in keys) == n_days


def test_feast_serves_from_redis_with_its_registry_in_postgres(stack: Stack) -> None:
    import polars as pl
    import redis
    import sqlalchemy as sa

    from mlops_assets.feature_repo import offline
    from mlops_assets.feature_repo.retrieval import online_features
    from mlops_assets.feature_repo.store import feature_store
    from mlops_assets.lib.features import ENTITY, FEATURE_NAMES, TIMESTAMP

    client = redis.Redis(host="127.0.0.1", port=stack.redis_port)
    assert client.dbsize() == 2 * TYPES  # one hash per segment
    client.close()
    engine = sa.create_engine(stack.postgres.uri("feast"))
    with engine.connect() as db:
        views = db.execute(sa.text("select feature_view_name from feature_views")).scalars()
        assert "consumption_features" in set(views)
    engine.dispose()

    settings = stack.settings
    store = feature_store(
        settings.feature_store_dir, settings.feast_registry, settings.feast_online_redis
    )
    latest = (
        pl.read_parquet(
            offline.partition_path(
                offline.offline_dir(settings.feature_store_dir), LAST + timedelta(days=1)
            )
        )
        .sort(TIMESTAMP)
        .group_by(ENTITY)
        .last()
        .sort(ENTITY)
    )
    refs = [f"consumption_features:{name}" for name in FEATURE_NAMES]
    served = online_features(store, latest.get_column(ENTITY).to_list(), refs).sort(ENTITY)
    assert served.select(ENTITY, *FEATURE_NAMES).equals(latest.select(ENTITY, *FEATURE_NAMES))


def test_mlflow_server_holds_the_champion_with_its_artifacts_in_s3(stack: Stack) -> None:
    import urllib.error
    import urllib.request

    import boto3
    from mlflow import MlflowClient

    anonymous = urllib.request.Request(
        f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=10)
    assert refused.value.code == 401  # basic auth is on

    client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    champion = client.get_model_version_by_alias("consumption_forecaster", "champion")
    assert champion.version == "1" and champion.tags["gate"] == "passed"
    run = client.get_run(champion.run_id)
    assert run.data.metrics["test_mae"] < run.data.metrics["seasonal_naive_mae"]
    (training,) = [step for step in stack.result if step.step.job == "training_job"]
    assert run.data.tags["dagster_run_id"] == training.run_id
    objects = boto3.client("s3").list_objects_v2(Bucket="mlflow-artifacts")["Contents"]
    names = {Path(o["Key"]).name for o in objects}
    assert {"model.ubj", "model_card.md", "evaluation.json", "reference.parquet"} <= names
