"""Training logged to a real MLflow store (sqlite:/// in a temp folder): lineage, artifacts,
the challenger/champion/previous_champion aliases, rollback, reproduction and outages."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.lib import families, training
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib.features import FEATURE_NAMES
from mlops_assets.lib.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    Registry,
    RegistryError,
    RegistryUnavailable,
)
from mlops_tests.unit.test_forecasting import training_frame

# XGBoost alone, so the booster-specific checks below always have a booster to check; the JSON
# families have a test of their own.
CONFIG = training.TrainingConfig(validation_days=2, test_days=7, seed=7, families=("xgboost",))
LENIENT = fc.GatePolicy(baseline_margin=0.0, significance=0.05, category_tolerance=1.0)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("registry")
    training_frame().write_parquet(root / "training_set.parquet")
    return root


def local_registry(root: Path, experiment: str) -> Registry:
    """An MLflow registry in `root`: a sqlite:/// store and local artifacts."""
    return Registry(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_location=(root / "artifacts").as_uri(),
        experiment=experiment,
        model_name="forecaster",
    )


@pytest.fixture(scope="module")
def registry(workdir: Path) -> Registry:
    return local_registry(workdir, "test")


def train(registry: Registry, workdir: Path, policy: fc.GatePolicy = LENIENT, **lineage: str):
    return training.train_candidate(
        training_set_path=workdir / "training_set.parquet",
        registry=registry,
        config=CONFIG,
        gate_policy=policy,
        lineage={"dagster_run_id": "test-run", **lineage},
        log=lambda _: None,
    )


@pytest.fixture(scope="module")
def first(registry: Registry, workdir: Path) -> training.CandidateResult:
    return train(registry, workdir)


def test_a_training_registers_a_challenger_with_its_lineage(
    registry: Registry, first: training.CandidateResult
) -> None:
    info = registry.version(first.version)
    assert first.version == "1" and CHALLENGER in info.aliases
    assert registry.by_alias(CHAMPION) is None  # training alone never promotes
    for key in ("code_version", "git_commit", "training_set_version", "training_window"):
        assert info.tags[key], key
    assert info.tags["dagster_run_id"] == "test-run"
    assert info.tags["feature_views"] == "consumption_features"
    assert info.tags[training.GATE_TAG] == "passed"
    assert info.tags["gate_decided_by"] == "baseline_margin"
    params, metrics, tags = registry.run_record(first.run_id)
    assert params["max_depth"] == str(fc.BoosterParams().max_depth) and params["seed"] == "7"
    assert params["test_days"] == "7"
    assert metrics["test_wape"] == pytest.approx(first.candidate.overall["wape"])
    assert metrics["test_mae"] == pytest.approx(first.candidate.overall["mae"])
    best = first.decision.best_baseline
    assert tags["best_baseline"] == best
    assert metrics[f"{best}_wape"] == pytest.approx(first.baseline.overall["wape"])
    assert metrics["gate_p_value"] == pytest.approx(first.decision.test.p_value)
    assert metrics[f"dm_p_value_vs_{best}"] == pytest.approx(first.decision.test.p_value)
    # The registered model was refit on train + validation with the rounds early stopping chose.
    assert metrics["refit_rounds"] == first.best_iteration + 1
    assert metrics["refit_rows"] == metrics["train_rows"] + metrics["validation_rows"]
    assert registry.load_booster(first.version).num_boosted_rounds() == first.best_iteration + 1
    assert tags["training_set_version"] == first.data_version


def test_the_run_holds_plots_tables_card_and_evaluation(
    registry: Registry, first: training.CandidateResult
) -> None:
    client = registry.client()
    names = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert names == {
        f"plots/{n}.png"
        for n in ("learning_curve", "feature_importance", "forecast_vs_actual", "error_by_segment")
    }
    card = client.download_artifacts(first.run_id, "model_card.md")
    text = Path(card).read_text()
    assert "Model card: forecaster" in text and "seasonal_naive" in text
    assert "refit on train +" in text and "Diebold-Mariano" in text
    assert "| xgboost |" in text  # the families' validation table
    assert f"p-value {first.decision.test.p_value:.4f} over 7 days" in text
    evaluation = registry.evaluation(first.run_id)
    gate = evaluation["gate"]
    assert gate["passed"] is True and gate["decided_by"] == "baseline_margin"
    assert gate["test"]["p_value"] == pytest.approx(first.decision.test.p_value)
    assert gate["policy"] == {
        "baseline_margin": 0.0,
        "significance": 0.05,
        "category_tolerance": 1.0,
    }
    assert [row["forecaster"] for row in gate["comparison"]] == ["candidate", *fc.BASELINES]
    assert set(evaluation["evaluations"]) == {"candidate", *fc.BASELINES}
    # Every family was fitted and scored on the validation days; the chosen one is registered.
    candidates = {row["family"]: row for row in evaluation["candidates"]}
    assert set(candidates) == set(CONFIG.families)
    assert [f for f, row in candidates.items() if row["chosen"]] == [first.family]
    assert registry.version(first.version).tags[families.FAMILY_TAG] == first.family
    again = fc.Evaluation.from_json(evaluation["evaluations"]["candidate"])
    assert again.per_day.height == 7 and again.overall == first.candidate.overall
    history = client.get_metric_history(first.run_id, "curve_validation_mae")
    assert len(history) > first.best_iteration


def test_the_model_is_stored_as_ubj_and_loads_without_pickle(
    registry: Registry, first: training.CandidateResult, workdir: Path
) -> None:
    model_dir = next((workdir / "artifacts").rglob("MLmodel")).parent
    files = {p.name for p in model_dir.rglob("*") if p.is_file()}
    assert "model.ubj" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    booster = registry.load_booster(first.version)
    frame = pl.read_parquet(workdir / "training_set.parquet")
    split = fc.time_split(frame, 2, 7)
    predicted = fc.predict(booster, split.test)
    evaluated = fc.evaluate_all(split.test, {"candidate": predicted})["candidate"]
    assert evaluated.overall["mae"] == pytest.approx(first.candidate.overall["mae"], abs=1e-9)


def test_the_json_families_compete_register_and_load_without_pickle(
    workdir: Path, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    registry = Registry(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        experiment="json-families",
        model_name="forecaster",
    )
    config = dataclasses.replace(CONFIG, families=("ridge", "weekday_naive", "blend"))
    result = training.train_candidate(
        training_set_path=workdir / "training_set.parquet",
        registry=registry,
        config=config,
        gate_policy=LENIENT,
        lineage={"dagster_run_id": "test-run"},
        log=lambda _: None,
    )
    table = result.candidates
    assert table.get_column("family").to_list() == ["ridge", "weekday_naive", "blend"]
    best = table.sort("validation_wape").item(0, "family")
    assert result.family == best and table.filter(pl.col("chosen")).item(0, "family") == best
    model_dir = next((tmp_path / "artifacts").rglob("MLmodel")).parent
    files = {p.name for p in model_dir.rglob("*") if p.is_file()}
    assert families.SPEC_FILE in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    loaded = registry.load_forecaster(result.version)
    assert loaded.family == best
    split = fc.time_split(pl.read_parquet(workdir / "training_set.parquet"), 2, 7)
    evaluated = fc.evaluate_all(split.test, {"candidate": loaded.predict(split.test)})["candidate"]
    assert evaluated.overall["mae"] == pytest.approx(result.candidate.overall["mae"], abs=1e-9)
    # MLflow's own loader runs the model-from-code file on the JSON spec: the same forecasts.
    uri = f"models:/forecaster/{result.version}"
    mlflow.set_tracking_uri(registry.tracking_uri)
    rows = split.test.select(FEATURE_NAMES).head(24)
    served = mlflow.pyfunc.load_model(uri).predict(rows.to_pandas())
    assert np.allclose(np.asarray(served, dtype=float), loaded.predict(rows), equal_nan=True)


def test_a_long_model_card_is_shortened_to_fit_the_version_description() -> None:
    from mlops_assets.lib.registry import DESCRIPTION_LIMIT, version_description

    short = "# card\n" * 10
    assert version_description(short) == short
    long = "".join(f"| row {i} | {'x' * 60} |\n" for i in range(200))
    cut = version_description(long)
    assert len(cut) <= DESCRIPTION_LIMIT and cut.endswith("model_card.md in the run's artifacts)\n")
    assert long.startswith(cut.split("\n\n... ")[0])


def test_promotion_keeps_the_previous_champion_and_rollback_restores_it(
    registry: Registry, first: training.CandidateResult, workdir: Path
) -> None:
    assert registry.promote(first.version, "test") == {
        "champion": "1",
        "previous_champion": None,
    }
    second = train(registry, workdir)
    # Same data and seed: the second model equals the champion, so it has not shown it is better.
    assert second.champion_version == "1" and not second.decision.passed
    assert second.champion is not None
    assert second.candidate.overall["wape"] == pytest.approx(second.champion.overall["wape"])
    assert second.decision.decided_by == "diebold_mariano"
    assert second.decision.test.against == "champion" and second.decision.test.p_value == 0.5
    assert registry.version(second.version).tags[training.GATE_TAG] == "failed"
    assert registry.aliases()[CHAMPION] == "1"
    registry.promote(second.version, "test")  # by hand, as an operator may
    assert registry.aliases() == {CHAMPION: "2", PREVIOUS_CHAMPION: "1", CHALLENGER: "2"}

    moved = registry.rollback()
    assert moved == {"champion": "1", "previous_champion": None, "demoted": "2"}
    assert registry.aliases() == {CHAMPION: "1", CHALLENGER: "2"}
    assert "rolled_back_at" in registry.version("2").tags
    with pytest.raises(RegistryError, match="no previous_champion"):
        registry.rollback()
    assert registry.aliases()[CHAMPION] == "1"


def test_a_failed_gate_registers_a_challenger_but_never_touches_the_champion(
    registry: Registry, workdir: Path
) -> None:
    before = registry.aliases()[CHAMPION]
    strict = fc.GatePolicy(baseline_margin=0.99)
    result = train(registry, workdir, policy=strict)
    assert not result.decision.passed
    assert registry.version(result.version).tags[training.GATE_TAG] == "failed"
    assert registry.aliases()[CHALLENGER] == result.version
    assert registry.aliases()[CHAMPION] == before


def test_a_version_reproduces_from_its_lineage(
    registry: Registry, first: training.CandidateResult, workdir: Path
) -> None:
    frame = pl.read_parquet(workdir / "training_set.parquet")

    def rebuild(start, end) -> pl.DataFrame:
        from mlops_assets.lib.features import TIMESTAMP

        return frame.filter(pl.col(TIMESTAMP) >= start, pl.col(TIMESTAMP) < end)

    result = training.reproduce(registry, first.version, rebuild, log=lambda _: None)
    assert result.reproduced, result.metrics
    assert result.data_version_rebuilt == first.data_version
    assert (result.metrics.get_column("abs_diff") == 0.0).all()

    def tampered(start, end) -> pl.DataFrame:
        return rebuild(start, end).with_columns(pl.col("lag_24h") * 1.01)

    changed = training.reproduce(registry, first.version, tampered, log=lambda _: None)
    assert not changed.reproduced
    assert changed.data_version_rebuilt != changed.data_version_logged


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_http_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    yield


def test_an_unreachable_tracking_server_is_a_clear_retryable_error(
    no_http_retries: None, workdir: Path
) -> None:
    down = Registry(f"http://127.0.0.1:{_closed_port()}", "", "test", "forecaster")
    with pytest.raises(RegistryUnavailable, match=r"MLflow at http://127\.0\.0\.1:\d+"):
        down.experiment_id()
    with pytest.raises(RegistryUnavailable):
        train(down, workdir)


def test_no_champion_means_the_baseline_alone_decides(workdir: Path, tmp_path: Path) -> None:
    fresh = Registry(f"sqlite:///{tmp_path / 'm.db'}", (tmp_path / "a").as_uri(), "e", "m")
    result = train(fresh, workdir, policy=fc.GatePolicy(baseline_margin=0.02))
    assert result.champion is None and result.champion_version is None
    baselines = {
        name: result.decision.comparison.filter(pl.col("forecaster") == name).item(0, "wape")
        for name in fc.BASELINES
    }
    assert result.baseline.overall["wape"] == min(baselines.values())
    assert result.decision.passed == (
        result.candidate.overall["wape"] <= 0.98 * result.baseline.overall["wape"]
    )
    assert np.isfinite(result.candidate.overall["mape"])
