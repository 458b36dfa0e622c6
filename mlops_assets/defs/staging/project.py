"""The dbt project; its manifest is prepared by `make prepare` (and by `dagster dev` itself)."""

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from mlops_assets.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# The dbt installed beside this Python, so a venv works without being activated.
_BESIDE_PYTHON = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else (shutil.which("dbt") or "dbt")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
