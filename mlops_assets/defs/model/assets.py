"""Training and promotion: `candidate_model` (MLflow run + registered challenger) guarded by a
blocking gate, and `champion_model`, which moves the alias only when the gate passed."""

from collections.abc import Iterator

import dagster as dg

from mlops_assets.defs.features.assets import training_set
from mlops_assets.defs.resources import (
    FeatureStoreResource,
    ModelPolicyResource,
    ModelRegistryResource,
)
from mlops_assets.feature_repo.repo import OWNER
from mlops_assets.lib import model_report, training
from mlops_assets.lib.registry import RegistryError, RegistryUnavailable

GATE = "beats_baseline_and_champion"
# MLflow calls that hit a transient error are retried; data errors are not (allow_retries=False).
MLFLOW_RETRY = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL)


def registry_failure(error: Exception) -> dg.Failure:
    transient = isinstance(error, RegistryUnavailable)
    return dg.Failure(
        description=f"{error}. "
        + (
            "Retried by the step's RetryPolicy; check that the tracking server is up and "
            "MLOPS_MLFLOW_TRACKING_URI is right. The champion alias was not touched."
            if transient
            else "The champion alias was not touched."
        ),
        allow_retries=transient,
    )


def _link(url: str, fallback: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(url) if url else dg.MetadataValue.text(fallback)


@dg.asset(
    description="Day-ahead forecaster trained on the training set: the model families (xgboost, "
    "ridge, weekday_naive, blend) fitted side by side, the best on the validation week refit and "
    "registered with the challenger alias; every family's score tracked in MLflow.",
    deps=[training_set],
    group_name="model",
    owners=[OWNER],
    kinds={"xgboost", "mlflow", "scikitlearn"},
    code_version=training.CODE_VERSION,
    retry_policy=MLFLOW_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            GATE,
            asset="candidate_model",
            blocking=True,
            description="Promotion gate on the held-out test window (7+ days), in WAPE: beats "
            "the best naive baseline by the margin and, when a champion exists, beats it in a "
            "one-sided Diebold-Mariano test on daily WAPE at MLOPS_GATE_SIGNIFICANCE with no "
            "consumer-type category worse than MLOPS_GATE_CATEGORY_TOLERANCE.",
        )
    ],
)
def candidate_model(
    context: dg.AssetExecutionContext,
    feature_store: FeatureStoreResource,
    model_registry: ModelRegistryResource,
    model_policy: ModelPolicyResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    registry = model_registry.registry()
    try:
        registry.experiment_id()  # fail fast, before minutes of training, if MLflow is down
        result = training.train_candidate(
            training_set_path=feature_store.training_set_path,
            registry=registry,
            config=model_policy.training_config(),
            gate_policy=model_policy.gate_policy(),
            lineage={
                "dagster_run_id": context.run.run_id,
                "dagster_asset_key": context.asset_key.to_user_string(),
            },
            log=context.log.info,
        )
    except (RegistryUnavailable, RegistryError) as error:
        raise registry_failure(error) from error
    except training.TrainingDataError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    decision = result.decision
    test = decision.test
    yield dg.MaterializeResult(
        metadata={
            "model_version": result.version,
            "mlflow_run": _link(registry.run_url(result.run_id), result.run_id),
            "mlflow_model_version": _link(
                registry.version_url(result.version), f"{registry.model_name} v{result.version}"
            ),
            **{f"test_{k}": v for k, v in result.candidate.overall.items() if k != "rows"},
            "best_baseline": decision.best_baseline,
            "best_baseline_wape": result.baseline.overall["wape"],
            "champion_wape": result.champion.overall["wape"] if result.champion else None,
            "champion_version": result.champion_version,
            "gate_passed": decision.passed,
            "gate_decided_by": decision.decided_by,
            "dm_statistic": test.statistic,
            "p_value": test.p_value,
            "comparison": dg.MetadataValue.md(model_report.comparison_markdown(decision)),
            "training_window": f"{result.window[0]} .. {result.window[1]}",
            "training_set_version": result.data_version,
            "train_rows": result.rows["train"],
            "model_family": result.family,
            "candidates": dg.MetadataValue.md(model_report.candidates_markdown(result.candidates)),
            "best_iteration": result.best_iteration,
            **({"refit_rounds": result.best_iteration + 1} if result.family == "xgboost" else {}),
            "search_trials": result.trials,
            "training_seconds": round(result.seconds, 2),
            "forecast_plot": dg.MetadataValue.md(result.forecast_markdown),
        }
    )
    yield dg.AssetCheckResult(
        check_name=GATE,
        passed=decision.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(decision.reasons),
        metadata={
            "model_version": result.version,
            "decision": "passed" if decision.passed else "failed",
            "decided_by": decision.decided_by,
            "tested_against": test.against,
            "dm_statistic": test.statistic,
            "p_value": test.p_value,
            "days_compared": test.days,
            "mean_wape_difference": test.mean_difference,
            "gate": dg.MetadataValue.md(model_report.gate_markdown(decision)),
            "model_family": result.family,
            "candidates": dg.MetadataValue.md(model_report.candidates_markdown(result.candidates)),
            "categories_worse_than_champion": decision.worse_categories.height,
        },
    )


@dg.asset(
    description="The registered version serving production: moves the champion alias to a "
    "candidate that passed the gate; the replaced champion stays reachable as previous_champion.",
    deps=[candidate_model],
    group_name="model",
    owners=[OWNER],
    kinds={"mlflow"},
    code_version="1",
    retry_policy=MLFLOW_RETRY,
)
def champion_model(
    context: dg.AssetExecutionContext, model_registry: ModelRegistryResource
) -> dg.MaterializeResult:
    candidate = context.instance.get_latest_materialization_event(candidate_model.key)
    if candidate is None or candidate.asset_materialization is None:
        raise dg.Failure("candidate_model was never materialized: nothing to promote")
    version = str(candidate.asset_materialization.metadata["model_version"].value)
    registry = model_registry.registry()
    try:
        info = registry.version(version)
        if info.tags.get(training.GATE_TAG) != "passed":
            raise dg.Failure(
                description=f"version {version} of {registry.model_name} did not pass the gate "
                f"({training.GATE_TAG}={info.tags.get(training.GATE_TAG)!r}); not promoted, the "
                "champion alias is unchanged",
                allow_retries=False,
            )
        moved = registry.promote(version, reason=f"gate passed in Dagster run {context.run.run_id}")
        _, metrics, _ = registry.run_record(info.run_id)
    except (RegistryUnavailable, RegistryError) as error:
        raise registry_failure(error) from error
    context.log.info(f"champion is now version {version} (previous: {moved['previous_champion']})")
    return dg.MaterializeResult(
        metadata={
            "champion_version": version,
            "previous_champion": moved["previous_champion"] or "none",
            "mlflow_model_version": _link(registry.version_url(version), f"v{version}"),
            "test_wape": metrics.get("test_wape"),
            "test_mae": metrics.get("test_mae"),
            "test_mape": metrics.get("test_mape"),
            "gate_p_value": metrics.get("gate_p_value"),
            "rollback": dg.MetadataValue.md(
                "`mlops-assets rollback` restores the previous champion"
            ),
        }
    )
