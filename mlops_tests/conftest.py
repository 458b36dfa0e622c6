"""Shared fixtures: every test gets its own data folder through the MLOPS_* environment."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# XGBoost's OpenMP threads spin while they wait for work by default; on a busy 2-core machine the
# spinning starves the other thread (a 60k-row fit went from 1.4 s to 28 s). Set before xgboost
# loads, here and in every subprocess the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Tests write a landing file and ingest it at once, in fixtures of every scope; the settle time
# has its own tests, which set it.
os.environ.setdefault("MLOPS_LANDING_SETTLE_SECONDS", "0")

from mlops_assets.settings import Settings
from mlops_tests.eds_server import FakeEnergiDataService, serve


@pytest.fixture
def mlops_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings over a fresh data folder; the variables also reach dbt and CLI subprocesses."""
    for name in [k for k in os.environ if k.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MLOPS_LANDING_SETTLE_SECONDS", "0")
    yield Settings.from_env()


@pytest.fixture
def landing_env(mlops_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Like `mlops_env`, reading raw data from landing files."""
    monkeypatch.setenv("MLOPS_SOURCE", "landing")
    return Settings.from_env()


@pytest.fixture
def eds() -> Iterator[FakeEnergiDataService]:
    """A local Energi Data Service replaying queued responses."""
    with serve() as service:
        yield service
