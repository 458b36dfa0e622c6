"""The code location: the definitions of every stage under `defs/`, assembled in one place.

Listed explicitly rather than autoloaded from the folder: the autoloader also imports every
installed Dagster component library (about 1.2 s here) on each load, in every run process.
"""

import dagster as dg

from mlops_assets.defs import jobs
from mlops_assets.defs.automation.sensors import build_sensors
from mlops_assets.defs.features.assets import (
    consumption_features,
    feature_registry,
    online_features,
    training_set,
)
from mlops_assets.defs.ingest.assets import raw_consumption, raw_weather, raw_weather_forecast
from mlops_assets.defs.model.assets import candidate_model, champion_model
from mlops_assets.defs.model.backtest import backtest
from mlops_assets.defs.monitoring.assets import drift_report, prediction_performance
from mlops_assets.defs.predictions.assets import batch_predictions
from mlops_assets.defs.resources import build_resources
from mlops_assets.defs.staging.assets import staging_forecast_models, staging_models
from mlops_assets.settings import get_settings

# Every asset in the graph, upstream first (tests materialize the same list).
ASSETS = [
    raw_consumption,
    raw_weather,
    raw_weather_forecast,
    staging_models,
    staging_forecast_models,
    consumption_features,
    feature_registry,
    online_features,
    training_set,
    candidate_model,
    champion_model,
    backtest,
    batch_predictions,
    prediction_performance,
    drift_report,
]


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        assets=ASSETS,
        jobs=[
            jobs.ingestion_job,
            jobs.feature_job,
            jobs.training_data_job,
            jobs.training_job,
            jobs.forecast_job,
            jobs.daily_job,
            jobs.backtest_job,
        ],
        schedules=[jobs.daily_schedule, jobs.forecast_schedule, jobs.weekly_retraining_schedule],
        sensors=build_sensors(settings),
        resources=build_resources(settings),
        # In-process by default: a subprocess per step re-imports the whole code location.
        executor=dg.in_process_executor,
    )
