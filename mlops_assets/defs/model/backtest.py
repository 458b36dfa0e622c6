"""`backtest`: the rolling-origin backtest of the model and the baselines over the newest weeks
of the offline store, logged to MLflow. Run on demand (backtest_job), not by the main job."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from mlops_assets.defs.features.assets import STAGED_CONSUMPTION_KEY, consumption_features
from mlops_assets.defs.model.assets import MLFLOW_RETRY, registry_failure
from mlops_assets.defs.resources import (
    FeatureStoreResource,
    ModelPolicyResource,
    ModelRegistryResource,
    WarehouseResource,
)
from mlops_assets.feature_repo.repo import OWNER
from mlops_assets.lib import backtest as bt
from mlops_assets.lib import model_report, training
from mlops_assets.lib import warehouse as staged
from mlops_assets.lib.registry import RegistryError, RegistryUnavailable


class BacktestConfig(dg.Config):
    """Which weeks to backtest, how much history trains the first week, and how often to refit."""

    weeks: int = 4
    end_date: str = ""  # YYYY-MM-DD, exclusive; empty = the day after the newest staged data
    history_days: int = 56  # target days before the first test week that train its model
    refit_every: int = 1  # weeks between refits; 0 = one model for every week


@dg.asset(
    description="Rolling-origin backtest over the newest weeks: each week forecast by a model "
    "trained only on the days before it, scored with the baselines in WAPE, logged to MLflow.",
    deps=[consumption_features, STAGED_CONSUMPTION_KEY],
    group_name="model",
    owners=[OWNER],
    kinds={"xgboost", "mlflow"},
    code_version=training.CODE_VERSION,
    retry_policy=MLFLOW_RETRY,
    pool="duckdb",
)
def backtest(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    warehouse: WarehouseResource,
    feature_store: FeatureStoreResource,
    model_registry: ModelRegistryResource,
    model_policy: ModelPolicyResource,
) -> dg.MaterializeResult:
    db = Path(warehouse.path)
    registry = model_registry.registry()
    try:
        end = (
            date.fromisoformat(config.end_date)
            if config.end_date
            else staged.newest_day(db, staged.STAGED_CONSUMPTION) + timedelta(days=1)
        )
        start, stop = bt.read_window(end, config.weeks, config.history_days)
        registry.experiment_id()  # fail fast, before minutes of fitting, if MLflow is down
        frame = feature_store.training_set(db, start, stop)
        result = bt.rolling_origin(
            frame,
            config.weeks,
            model_policy.training_config(),
            config.refit_every,
            log=context.log.info,
        )
        run_id = bt.log_run(result, registry, lineage={"dagster_run_id": context.run.run_id})
    except (ValueError, FileNotFoundError, staged.MissingUpstreamError) as error:
        raise dg.Failure(
            description=f"backtest: {error}. The run config's weeks, history_days and end_date "
            "choose what is read from the offline store.",
            allow_retries=False,
        ) from error
    except (RegistryUnavailable, RegistryError) as error:
        raise registry_failure(error) from error
    tables = bt.markdown_tables(result)
    first, last = result.test_window
    url = registry.run_url(run_id)
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.md(bt.headline(result)),
            "overall": dg.MetadataValue.md(tables["overall"]),
            "by_week": dg.MetadataValue.md(tables["by_week"]),
            "by_category": dg.MetadataValue.md(tables["by_category"]),
            "plot": dg.MetadataValue.md(
                model_report.markdown_image(bt.plot(result), "backtest WAPE")
            ),
            **{f"{name}_wape": result.wape(name) for name in bt.FORECASTERS},
            "mlflow_run": dg.MetadataValue.url(url) if url else dg.MetadataValue.text(run_id),
            "mlflow_run_id": run_id,
            "read_window": f"[{start:%Y-%m-%d}, {stop:%Y-%m-%d})",
            "test_window": f"{first} .. {last}",
            "training_from": str(result.train_start),
            "weeks": result.weeks,
            "refit": result.describe_refit(),
            "segments": result.segments,
            "seconds": round(result.seconds, 2),
        }
    )
