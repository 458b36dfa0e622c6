"""The local Dagster instance: DAGSTER_HOME inside the checkout, never in the home directory."""

import os
import shutil
from pathlib import Path

from mlops_assets.settings import PROJECT_ROOT

TEMPLATE = Path(__file__).parent / "dagster.yaml"


def dagster_home() -> Path:
    """DAGSTER_HOME if set, else `.dagster_home` in the checkout."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()


def prepare_home(home: Path) -> Path:
    """Create the instance folder with our dagster.yaml unless one is already there."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(TEMPLATE, config)
    return home
