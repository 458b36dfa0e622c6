"""MLflow "model from code" for the JSON model families (ridge, weekday_naive).

MLflow stores this file's source with the model instead of pickling an object, so loading runs
code that can be read here, and the fitted state is the JSON spec in the model's artifacts. Our
own loader (`Registry.load_forecaster`) reads the JSON directly; this file is for anyone who
loads the version with `mlflow.pyfunc.load_model`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
from mlflow.pyfunc import PythonModel

ARTIFACT = "forecaster"


class JsonForecaster(PythonModel):
    def load_context(self, context: Any) -> None:
        from mlops_assets.lib.families import from_spec

        self.forecaster = from_spec(json.loads(Path(context.artifacts[ARTIFACT]).read_text()))

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return self.forecaster.predict(pl.from_pandas(model_input))


mlflow.models.set_model(JsonForecaster())
