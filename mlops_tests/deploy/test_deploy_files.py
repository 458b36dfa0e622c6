"""The production files in deploy/, validated statically: they parse, the instance config is valid
for Dagster, every variable they use is listed in .env.example, and no secret is committed."""

import re
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from mlops_assets.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
YAML_FILES = [
    "docker-compose.yml",
    "dagster.yaml",
    "workspace.yaml",
    "helm/values.yaml",
    "feast/feature_store.yaml",
]
# ${VAR}, $${VAR} (compose escapes) and {env: VAR} (Dagster config).
VARIABLE = re.compile(r"\$\$?\{([A-Z][A-Z0-9_]*)\}|\{env:\s*([A-Z][A-Z0-9_]*)\}")


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


@pytest.mark.parametrize("name", YAML_FILES)
def test_every_yaml_file_parses(name: str) -> None:
    assert isinstance(yaml.safe_load((DEPLOY / name).read_text()), dict)


def test_the_production_instance_config_is_valid_for_dagster() -> None:
    config, _ = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    assert "postgres" in config["storage"]
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] > 1
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]


@pytest.mark.parametrize(
    "folder", [DEPLOY, PROJECT_ROOT / "mlops_assets" / "instance"], ids=["production", "embedded"]
)
def test_both_instances_fail_runs_that_hang_through_run_monitoring(folder: Path) -> None:
    config, _ = dagster_instance_config(str(folder), "dagster.yaml")
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"]
    # Bounded: a run stuck starting, canceling or running is failed by the daemon, so it can
    # never hold the one-training limit, or the retraining sensors, forever.
    assert 0 < monitoring["start_timeout_seconds"] <= 600
    assert 0 < monitoring["cancel_timeout_seconds"] <= 600
    assert 0 < monitoring["max_runtime_seconds"] <= 24 * 3600
    assert monitoring["poll_interval_seconds"] <= 120
    # The default run launcher cannot resume a run: any resume attempt would stop the instance
    # from loading.
    assert monitoring.get("max_resume_run_attempts", 0) == 0


def test_every_variable_used_is_listed_in_env_example() -> None:
    listed = set(env_example())
    used = set()
    for name in [*YAML_FILES, "Dockerfile"]:
        for match in VARIABLE.finditer((DEPLOY / name).read_text()):
            used.add(match.group(1) or match.group(2))
    assert used, "the pattern found no variable at all"
    assert used - listed == set()
    settings_code = (PROJECT_ROOT / "mlops_assets" / "settings.py").read_text()
    production = {"MLOPS_MLFLOW_TRACKING_URI", "MLOPS_FEAST_REGISTRY", "MLOPS_FEAST_ONLINE_REDIS"}
    assert production <= listed
    assert {v for v in listed if v.startswith("MLOPS_")} <= set(
        re.findall(r'"(MLOPS_[A-Z0-9_]+)"', settings_code)
    )


def test_no_secret_is_committed() -> None:
    for name, value in env_example().items():
        if re.search(r"PASSWORD|SECRET|ACCESS_KEY", name):
            assert value == "", f"{name} must be empty in .env.example"
        assert "CHANGE_ME" in value or not re.search(r"://[^:/@]+:[^@]+@", value), name
    for name in YAML_FILES:
        text = (DEPLOY / name).read_text()
        assert not re.search(r"(?i)password:\s*['\"]?[A-Za-z0-9]{6,}", text), name


def test_compose_runs_every_service_on_loopback_with_mlflow_secured() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "minio", "redis", "mlflow", "code", "webserver", "daemon"} <= set(services)
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    mlflow = services["mlflow"]["command"]
    assert "--app-name basic-auth" in mlflow and "--allowed-hosts" in mlflow
    assert "--artifacts-destination" in mlflow and "--backend-store-uri" in mlflow
    assert "code-server" in " ".join(services["code"]["command"])


def test_the_image_prepares_dbt_and_runs_as_a_non_root_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "dagster-dbt project prepare-and-package" in dockerfile
    assert '".[prod]"' in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.M)
    assert users and users[-1] not in {"root", "0"}


def test_helm_values_launch_runs_as_kubernetes_jobs_with_secrets() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "mlops_assets.definitions"]
    assert {"name": "mlops-assets-env"} in deployment["envSecrets"]
    assert {"name": "MLOPS_STEP_EXECUTOR", "value": "k8s"} in deployment["env"]
    assert values["global"]["postgresqlSecretName"]
    # The K8sRunLauncher's health check fails a run whose pod died, within one poll.
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert monitoring["enabled"] and monitoring["pollIntervalSeconds"] <= 120
    assert "postgresqlPassword" not in values["postgresql"]


def test_the_env_example_is_a_valid_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in env_example().items() if k.startswith("MLOPS_")}
    settings = Settings.from_env({**env, "MLOPS_DATA_DIR": str(tmp_path)})
    assert settings.tracking_uri == "http://mlflow:5000"
    assert settings.artifact_location == ""  # the tracking server chooses (proxied S3)
    assert settings.landing_uri.startswith("s3://") and settings.feast_online_redis
