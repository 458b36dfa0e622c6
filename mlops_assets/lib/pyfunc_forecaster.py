"""MLflow "model from code" for the model families stored as files (ridge, weekday_naive, blend).

MLflow stores this file's source with the model instead of pickling an object, so loading runs
code that can be read here, and the fitted state is the folder in the model's artifacts: a JSON
spec, plus a blend's members (JSON, or XGBoost's UBJ). Our own loader
(`Registry.load_forecaster`) reads the folder directly; this file is for anyone who loads the
version with `mlflow.pyfunc.load_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import polars as pl
from mlflow.pyfunc import PythonModel

ARTIFACT = "forecaster"


class JsonForecaster(PythonModel):
    def load_context(self, context: Any) -> None:
        from mlops_assets.lib.families import load

        self.forecaster = load(Path(context.artifacts[ARTIFACT]))

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return self.forecaster.predict(pl.from_pandas(model_input))


mlflow.models.set_model(JsonForecaster())
