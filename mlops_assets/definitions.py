"""The code location: every definition under `defs/`, loaded from the folder."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    folder = dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs")
    # In-process by default: a subprocess per step re-imports the whole code location.
    return dg.Definitions.merge(folder, dg.Definitions(executor=dg.in_process_executor))
