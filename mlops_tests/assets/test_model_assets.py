"""The model group run by Dagster on real MLflow: train, gate, promote, refuse, roll back,
reproduce, and survive an MLflow outage with the champion untouched."""

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets import cli
from mlops_assets.definitions import ASSETS
from mlops_assets.defs.jobs import feature_job, ingestion_job, training_data_job
from mlops_assets.defs.resources import (
    FeatureStoreResource,
    ModelPolicyResource,
    ModelRegistryResource,
    build_resources,
)
from mlops_assets.lib import drift, training
from mlops_assets.lib.features import LABEL
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Registry
from mlops_assets.lib.scoring import ISSUED_AT
from mlops_assets.settings import Settings

FIRST, LAST = date(2025, 2, 8), date(2025, 3, 24)
MODEL = dg.AssetSelection.assets("candidate_model", "champion_model")
GATE = "beats_baseline_and_champion"
SCORING = dg.AssetSelection.assets("batch_predictions", "drift_report")
# Three ordinary days after the test week (no holiday in their feature windows).
RANGE = [date(2025, 3, 18) + timedelta(days=i) for i in range(3)]


def _run(
    settings: Settings,
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection | None = None,
    first: date = FIRST,
    last: date = LAST,
    **resources: dg.ConfigurableResource,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        selection=selection,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
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
    """The whole graph over 45 days of 8 segments (a week of lags, 22 training, 7 validation and
    7 test days); the instance lives for the module."""
    data_dir = tmp_path_factory.mktemp("model") / "data"
    with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.ephemeral() as instance:
        mp.setenv("MLOPS_DATA_DIR", str(data_dir))
        mp.setenv("MLOPS_CONSUMER_TYPES", "4")
        mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mp.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
        settings = Settings.from_env()
        # The lifecycle's stages in order (the two calendars cannot share one run); a forecast
        # day needs the day before it staged, so features start a day after the actuals. The
        # online store plays no part in training.
        assert _run(settings, instance, ingestion_job.selection).success
        features = feature_job.selection - dg.AssetSelection.assets("online_features")
        assert _run(settings, instance, features, FIRST + timedelta(days=1)).success
        yield settings, instance, _run(settings, instance, training_data_job.selection | MODEL)


def test_the_whole_graph_trains_gates_and_promotes_a_first_champion(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
) -> None:
    settings, _, result = pipeline
    assert result.success
    gate = _gate(result)
    assert gate.passed and gate.blocking
    assert "no champion yet" in (gate.description or "")
    check = {k: v.value for k, v in gate.metadata.items()}
    assert check["decision"] == "passed" and check["decided_by"] == "baseline_margin"
    assert check["days_compared"] == 7 and 0 <= check["p_value"] <= 1
    assert "| forecaster | wape |" in check["gate"] and "Decision: passed" in check["gate"]
    # Every baseline and every model family, with the one registered.
    for name in ("seasonal_naive", "weekday_naive", "same_hour_yesterday"):
        assert f"| {name} |" in check["gate"]
    for family in ("xgboost", "ridge", "weekday_naive", "blend"):
        assert f"| {family} |" in check["candidates"]
    assert check["model_family"] in ("xgboost", "ridge", "blend")
    (candidate,) = result.asset_materializations_for_node("candidate_model")
    meta = {k: v.value for k, v in candidate.metadata.items()}
    assert meta["model_version"] == "1" and meta["gate_passed"] is True
    assert meta["test_wape"] <= 0.98 * meta["best_baseline_wape"]
    assert meta["model_family"] in ("xgboost", "ridge", "blend")  # learned beat the naive ones
    assert "| xgboost |" in meta["candidates"] and "| weekday_naive |" in meta["candidates"]
    assert "| candidate |" in meta["comparison"]
    for baseline in ("seasonal_naive", "weekday_naive", "same_hour_yesterday"):
        assert f"| {baseline} |" in meta["comparison"]
    assert meta["forecast_plot"].startswith("![forecast vs actual](data:image/png;base64,")
    (champion,) = result.asset_materializations_for_node("champion_model")
    assert champion.metadata["champion_version"].value == "1"
    assert _registry(settings).aliases() == {CHAMPION: "1", CHALLENGER: "1"}


def _register_a_bad_champion(settings: Settings, registry: Registry, tmp_path: Path) -> str:
    """A model fitted on labels 15 % too high, promoted by hand: a champion gone bad."""
    source = build_resources(settings)["feature_store"].training_set_path  # type: ignore[attr-defined]
    skewed = tmp_path / "skewed_training_set.parquet"
    pl.read_parquet(source).with_columns(pl.col(LABEL) * 1.15).write_parquet(skewed)
    bad = training.train_candidate(
        training_set_path=skewed,
        registry=registry,
        config=settings.training,
        gate_policy=settings.gate,
        lineage={"dagster_run_id": "none"},
        log=lambda _: None,
    )
    registry.promote(bad.version, reason="test: a champion gone bad")
    return bad.version


def test_the_gate_blocks_promotion_and_rollback_restores_the_previous_champion(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    settings, instance, _ = pipeline
    registry = _registry(settings)

    strict = ModelPolicyResource(baseline_margin=0.99)
    refused = _run(settings, instance, MODEL, model_policy=strict)
    assert not refused.success
    assert not _gate(refused).passed
    assert "FAIL: candidate WAPE" in (_gate(refused).description or "")
    assert not refused.asset_materializations_for_node("champion_model")
    assert registry.aliases() == {CHAMPION: "1", CHALLENGER: "2"}

    # Materializing the promotion alone cannot sneak the failed candidate in.
    alone = _run(settings, instance, dg.AssetSelection.assets("champion_model"))
    assert not alone.success
    assert "version 2 of consumption_forecaster did not pass the gate" in _failure(alone)
    assert registry.aliases()[CHAMPION] == "1"

    # A retrain on the same data is as good as the champion, not better: it does not replace it.
    same = _run(settings, instance, MODEL)
    assert not same.success and not _gate(same).passed
    check = _gate(same).metadata
    assert check["decided_by"].value == "diebold_mariano"
    assert check["tested_against"].value == "champion" and check["p_value"].value == 0.5
    assert "not significantly better than the champion" in (_gate(same).description or "")
    assert registry.aliases() == {CHAMPION: "1", CHALLENGER: "3"}

    bad = _register_a_bad_champion(settings, registry, tmp_path)
    assert registry.aliases() == {CHAMPION: bad, PREVIOUS_CHAMPION: "1", CHALLENGER: bad}
    accepted = _run(settings, instance, MODEL)
    assert accepted.success and _gate(accepted).passed
    check = _gate(accepted).metadata
    assert check["decided_by"].value == "diebold_mariano" and check["p_value"].value < 0.05
    assert check["dm_statistic"].value < 0
    assert "PASS: candidate beats the champion" in (_gate(accepted).description or "")
    assert registry.aliases() == {CHAMPION: "5", PREVIOUS_CHAMPION: bad, CHALLENGER: "5"}

    assert cli.main(["rollback"]) == 0
    assert f"champion is now version {bad} (was 5)" in capsys.readouterr().out
    assert registry.aliases()[CHAMPION] == bad


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


def _count_calls(
    monkeypatch: pytest.MonkeyPatch, counts: Counter[str], owner: object, name: str
) -> None:
    """Count the calls of the real `owner.name` (still called) under `name`."""
    real: Callable[..., object] = getattr(owner, name)

    def counted(*args: object, **kwargs: object) -> object:
        counts[name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


def _scored(
    settings: Settings,
    instance: dg.DagsterInstance,
    run: dg.ExecuteInProcessResult,
    days: list[date],
) -> dict[str, tuple[pl.DataFrame, dict[str, object]]]:
    """Each day's forecast file and the drift metadata its partition recorded in `run`."""
    lake = Lake(settings.lake_dir)
    out = {}
    for day in days:
        frame = lake.read("predictions", [day])
        assert frame is not None
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("drift_report"),
                asset_partitions=[day.isoformat()],
            ),
            limit=1,
        ).records
        assert record.run_id == run.run_id
        meta = record.asset_materialization.metadata  # type: ignore[union-attr]
        out[day.isoformat()] = (frame, {k: v.value for k, v in meta.items()})
    return out


def test_a_range_joins_loads_and_compares_once_and_writes_what_its_days_alone_write(
    pipeline: tuple[Settings, dg.DagsterInstance, dg.ExecuteInProcessResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, instance, _ = pipeline
    counts: Counter[str] = Counter()
    for owner, name in [
        (Registry, "load_forecaster"),
        (Registry, "reference"),
        (FeatureStoreResource, "features_for"),
        (drift, "prepare_reference"),
    ]:
        _count_calls(monkeypatch, counts, owner, name)
    models = len(set(_registry(settings).aliases().get(a) for a in (CHAMPION, CHALLENGER)))

    ranged = _run(settings, instance, SCORING, RANGE[0], RANGE[-1])

    assert ranged.success
    # The champion and the challenger loaded once; one join each for the forecasts and the
    # drift reports; the reference loaded and prepared once, for all three days.
    assert counts == {
        "load_forecaster": models,
        "features_for": 2,
        "reference": 1,
        "prepare_reference": 1,
    }
    range_outputs = _scored(settings, instance, ranged, RANGE)
    # Each partition records its own day's forecast, and the range it was issued in.
    records = ranged.asset_materializations_for_node("batch_predictions")
    assert sorted(r.partition for r in records) == [d.isoformat() for d in RANGE]
    for record in records:
        meta = {k: v.value for k, v in record.metadata.items()}
        frame, _ = range_outputs[record.partition]  # type: ignore[index]
        assert meta["dagster/row_count"] == frame.height
        assert str(meta["path"]).endswith(f"day={record.partition}/data.parquet")
        assert meta["origin"] == f"{record.partition} 00:00 UTC"
        assert meta["range"] == f"{RANGE[0]}..{RANGE[-1]}" and meta["range_days"] == 3
    issued = {f.get_column(ISSUED_AT).unique().item() for f, _ in range_outputs.values()}
    assert len(issued) == 1  # one issue time for the whole range

    for day in RANGE:
        counts.clear()
        alone = _run(settings, instance, SCORING, day, day)
        assert alone.success
        assert counts["load_forecaster"] == models and counts["reference"] == 1
        (record,) = alone.asset_materializations_for_node("batch_predictions")
        assert "range" not in record.metadata
        frame, meta = _scored(settings, instance, alone, [day])[day.isoformat()]
        range_frame, range_meta = range_outputs[day.isoformat()]
        assert frame.drop(ISSUED_AT).equals(range_frame.drop(ISSUED_AT)), day
        assert meta["status"] == "compared", meta
        for key in ("drift_share", "drifted_columns", "n_columns", "reference", "current_rows"):
            assert meta[key] == range_meta[key], (day, key)
        assert meta["scores"] == range_meta["scores"], day
