"""Fixtures of the library tests that ingest: a lake and an ingestion policy in tmp_path."""

from pathlib import Path

import pytest

from mlops_assets.lib.ingest import IngestPolicy
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.validation import Limits


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def policy(tmp_path: Path) -> IngestPolicy:
    return IngestPolicy(
        limits=Limits(), price_areas=("DK1", "DK2"), quarantine_dir=tmp_path / "quarantine"
    )
