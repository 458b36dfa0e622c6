"""The model group run by Dagster on real MLflow: train, gate, promote, refuse, roll back,
reproduce, and survive an MLflow outage with the champion untouched."""

import socket
from collections.abc import Iterator
from datetime import date

import dagster as dg
import pytest

from mlops_assets import cli
from mlops_assets.definitions import ASSETS
from mlops_assets.defs.resources import ModelPolicyResource, ModelRegistryResource, build_resources
from mlops_assets.lib.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Registry
from mlops_assets.settings import Settings

FIRST, LAST = date(2025, 3, 1), date(2025, 3, 24)
MODEL = dg.AssetSelection.assets("candidate_model", "champion_model")
GATE = "beats_baseline_and_champion"


def _run(
    settings: Settings,
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection | None = None,
    **resources: dg.ConfigurableResource,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        selection=selection,
        tags={
            "dagster/asset_partition_range_start": FIRST.isoformat(),
            "dagster/asset_partition_range_end": LAST.isoformat(),
        },
        resources={**build_resources(settings), **resources},
        instance=instance,
        raise_on_error=False,
    )


def _registry(settings: Settings) -> Registry:
    return build_resources(settings)["model_registry"].registry()  # type: ignore[attr-defined]


def _gate(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == GATE]
    return evaluation


def _failure(result: dg.ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.event_specific_data.error.to_string()


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult]]:
    """The whole graph over 24 days of 8 segments; the instance lives for the module."""
    data_dir = tmp_path_factory.mktemp("model") / "data"
    with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.ephemeral() as instance:
        mp.setenv("MLOPS_DATA_DIR", str(data_dir))
        mp.setenv("MLOPS_CONSUMER_TYPES", "4")
        mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mp.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
        settings = Settings.from_env()
        yield settings, instance, _run(settings, instance)


def test_the_whole_graph_trains_gates_and_promotes_a_first_champion(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
) -> None:
    settings, _, result = pipeline
    assert result.success
    gate = _gate(result)
    assert gate.passed and gate.blocking
    assert "no champion yet" in (gate.description or "")
    (candidate,) = result.asset_materializations_for_node("candidate_model")
    meta = {k: v.value for k, v in candidate.metadata.items()}
    assert meta["model_version"] == "1" and meta["gate_passed"] is True
    assert meta["test_mae"] < meta["seasonal_naive_mae"]
    assert "| candidate |" in meta["comparison"] and "| seasonal_naive |" in meta["comparison"]
    assert meta["forecast_plot"].startswith("![forecast vs actual](data:image/png;base64,")
    (champion,) = result.asset_materializations_for_node("champion_model")
    assert champion.metadata["champion_version"].value == "1"
    assert _registry(settings).aliases() == {CHAMPION: "1", CHALLENGER: "1"}


def test_the_gate_blocks_promotion_and_rollback_restores_the_previous_champion(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, instance, _ = pipeline
    registry = _registry(settings)

    strict = ModelPolicyResource(baseline_margin=0.99)
    refused = _run(settings, instance, MODEL, model_policy=strict)
    assert not refused.success
    assert not _gate(refused).passed
    assert "FAIL: candidate MAE" in (_gate(refused).description or "")
    assert not refused.asset_materializations_for_node("champion_model")
    assert registry.aliases() == {CHAMPION: "1", CHALLENGER: "2"}

    # Materializing the promotion alone cannot sneak the failed candidate in.
    alone = _run(settings, instance, dg.AssetSelection.assets("champion_model"))
    assert not alone.success
    assert "version 2 of consumption_forecaster did not pass the gate" in _failure(alone)
    assert registry.aliases()[CHAMPION] == "1"

    accepted = _run(settings, instance, MODEL)
    assert accepted.success and _gate(accepted).passed
    assert registry.aliases() == {CHAMPION: "3", PREVIOUS_CHAMPION: "1", CHALLENGER: "3"}

    assert cli.main(["rollback"]) == 0
    assert "champion is now version 1 (was 3)" in capsys.readouterr().out
    assert registry.aliases() == {CHAMPION: "1", CHALLENGER: "3"}


def test_a_registered_version_reproduces_from_its_lineage(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["reproduce", "1"]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "NOT REPRODUCED" not in out


def test_an_mlflow_outage_fails_clearly_after_retries_and_keeps_the_champion(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
) -> None:
    settings, instance, _ = pipeline
    before = _registry(settings).aliases()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = ModelRegistryResource(tracking_uri=f"http://127.0.0.1:{port}")

    result = _run(settings, instance, MODEL, model_registry=down)

    assert not result.success
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert len(restarts) == 2  # the RetryPolicy's two retries
    message = _failure(result)
    assert f"MLflow at http://127.0.0.1:{port}" in message
    assert "champion alias was not touched" in message
    assert _registry(settings).aliases() == before
