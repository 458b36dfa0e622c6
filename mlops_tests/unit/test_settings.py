"""Settings from `MLOPS_*` variables: defaults, each override, and errors that name the variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mlops_assets import settings as settings_module
from mlops_assets.lib.forecasting import GatePolicy
from mlops_assets.lib.validation import Limits
from mlops_assets.settings import PROJECT_ROOT, Settings, Source, Thresholds, get_settings


def test_defaults_keep_data_beside_the_checkout() -> None:
    settings = Settings.from_env({})

    data = (PROJECT_ROOT / "data").resolve()
    assert settings.data_dir == data
    assert settings.lake_dir == data / "lake"
    assert settings.landing_dir == data / "landing"
    assert settings.quarantine_dir == data / "quarantine"
    assert settings.warehouse_path == data / "warehouse.duckdb"
    assert settings.source is Source.GENERATOR
    assert settings.partition_start == date(2024, 1, 1)
    assert settings.price_areas == ("DK1", "DK2")
    assert settings.n_consumer_types == 38
    assert settings.generator_seed == 42
    assert settings.api_base_url == "https://api.energidataservice.dk"
    assert settings.thresholds == Thresholds()


def test_without_a_checkout_data_goes_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)

    assert Settings.from_env({}).data_dir == tmp_path.resolve() / "data"


def test_data_dir_moves_every_store(tmp_path: Path) -> None:
    settings = Settings.from_env({"MLOPS_DATA_DIR": str(tmp_path / "mlops")})

    data = tmp_path.resolve() / "mlops"
    assert settings.data_dir == data
    assert settings.lake_dir == data / "lake"
    assert settings.landing_dir == data / "landing"
    assert settings.quarantine_dir == data / "quarantine"
    assert settings.warehouse_path == data / "warehouse.duckdb"


def test_relative_directories_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({"MLOPS_DATA_DIR": "store", "MLOPS_LAKE_DIR": "elsewhere/lake"})

    assert settings.data_dir == tmp_path.resolve() / "store"
    assert settings.lake_dir == tmp_path.resolve() / "elsewhere" / "lake"


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("MLOPS_LAKE_DIR", "lake_dir"),
        ("MLOPS_LANDING_DIR", "landing_dir"),
        ("MLOPS_QUARANTINE_DIR", "quarantine_dir"),
        ("MLOPS_WAREHOUSE_PATH", "warehouse_path"),
    ],
)
def test_each_store_can_be_placed_alone(tmp_path: Path, variable: str, field: str) -> None:
    env = {"MLOPS_DATA_DIR": str(tmp_path / "data"), variable: str(tmp_path / "custom")}
    default = Settings.from_env({"MLOPS_DATA_DIR": env["MLOPS_DATA_DIR"]})

    settings = Settings.from_env(env)

    assert getattr(settings, field) == tmp_path.resolve() / "custom"
    others = {"lake_dir", "landing_dir", "quarantine_dir", "warehouse_path"} - {field}
    assert all(getattr(settings, other) == getattr(default, other) for other in others)


@pytest.mark.parametrize("source", list(Source))
def test_source_is_chosen_by_name(source: Source) -> None:
    assert Settings.from_env({"MLOPS_SOURCE": source.value}).source is source


def test_overrides_are_read() -> None:
    settings = Settings.from_env(
        {
            "MLOPS_PARTITION_START": "2022-10-01",
            "MLOPS_PRICE_AREAS": " DK2 ,,DK1",
            "MLOPS_CONSUMER_TYPES": "12",
            "MLOPS_SEED": "7",
            "MLOPS_API_BASE_URL": "http://localhost:8080",
            "MLOPS_MAX_MISSING_HOURS_SHARE": "0.1",
            "MLOPS_MAX_TOTAL_CON_KWH": "1e6",
            "MLOPS_SKEW_Z_SCORE": "3.5",
            "MLOPS_SKEW_LOOKBACK_DAYS": "14",
        }
    )

    assert settings.partition_start == date(2022, 10, 1)
    assert settings.price_areas == ("DK2", "DK1")
    assert settings.n_consumer_types == 12
    assert settings.generator_seed == 7
    assert settings.api_base_url == "http://localhost:8080"
    assert settings.thresholds == Thresholds(
        limits=Limits(max_missing_hours_share=0.1, max_total_con_kwh=1e6),
        skew_z_score=3.5,
        skew_lookback_days=14,
    )


def test_empty_variables_mean_the_default() -> None:
    names = [
        "MLOPS_DATA_DIR",
        "MLOPS_LAKE_DIR",
        "MLOPS_SOURCE",
        "MLOPS_PARTITION_START",
        "MLOPS_PRICE_AREAS",
        "MLOPS_CONSUMER_TYPES",
        "MLOPS_API_BASE_URL",
        "MLOPS_SKEW_Z_SCORE",
        "MLOPS_SKEW_LOOKBACK_DAYS",
    ]

    assert Settings.from_env(dict.fromkeys(names, "")) == Settings.from_env({})


@pytest.mark.parametrize(
    ("variable", "value", "explains"),
    [
        ("MLOPS_SOURCE", "warehouse", "choose one of generator, api, landing"),
        ("MLOPS_PARTITION_START", "2024-13-01", "use YYYY-MM-DD"),
        ("MLOPS_PARTITION_START", "01/01/2024", "use YYYY-MM-DD"),
        ("MLOPS_MAX_MISSING_HOURS_SHARE", "5%", "is not a number"),
        ("MLOPS_MAX_TOTAL_CON_KWH", "lots", "is not a number"),
        ("MLOPS_SKEW_Z_SCORE", "four", "is not a number"),
        ("MLOPS_SKEW_LOOKBACK_DAYS", "a week", "is not a number"),
        ("MLOPS_SKEW_LOOKBACK_DAYS", "7.5", "is not a whole number"),
        ("MLOPS_CONSUMER_TYPES", "3.7", "is not a whole number"),
        ("MLOPS_CONSUMER_TYPES", "nan", "is not a whole number"),
        ("MLOPS_SEED", "inf", "is not a whole number"),
    ],
)
def test_bad_values_are_reported_with_their_variable(
    variable: str, value: str, explains: str
) -> None:
    with pytest.raises(ValueError, match=explains) as raised:
        Settings.from_env({variable: value})

    assert f"{variable}={value!r}" in str(raised.value)


def test_get_settings_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_SOURCE", "landing")
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))

    settings = get_settings()

    assert settings.source is Source.LANDING
    assert settings.landing_dir == tmp_path.resolve() / "landing"


def test_training_gate_and_trigger_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.training.test_days == 7  # a whole weekly cycle
    assert settings.training.validation_days == 7  # the families are compared on a whole week
    assert settings.training.families == ("xgboost", "ridge", "weekday_naive", "blend")
    assert settings.training.max_training_days == 365
    assert settings.gate == GatePolicy(
        baseline_margin=0.02, significance=0.05, category_tolerance=0.10
    )
    assert settings.monitoring.wape_threshold == 10.0
    assert settings.monitoring.wape_consecutive_days == 3


def test_training_gate_and_trigger_overrides_are_read() -> None:
    settings = Settings.from_env(
        {
            "MLOPS_TEST_DAYS": "14",
            "MLOPS_GATE_BASELINE_MARGIN": "0.05",
            "MLOPS_GATE_SIGNIFICANCE": "0.01",
            "MLOPS_GATE_CATEGORY_TOLERANCE": "0.2",
            "MLOPS_WAPE_THRESHOLD": "12.5",
            "MLOPS_WAPE_CONSECUTIVE_DAYS": "2",
            "MLOPS_MODEL_FAMILIES": " ridge, xgboost ",
            "MLOPS_TRAINING_MAX_DAYS": "90",
        }
    )

    assert settings.training.test_days == 14
    assert settings.training.families == ("ridge", "xgboost")
    assert settings.training.max_training_days == 90
    assert settings.gate == GatePolicy(
        baseline_margin=0.05, significance=0.01, category_tolerance=0.2
    )
    assert settings.monitoring.wape_threshold == 12.5
    assert settings.monitoring.wape_consecutive_days == 2


def test_an_unknown_model_family_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"MLOPS_MODEL_FAMILIES='xgboost,lstm' .*\['lstm'\]"):
        Settings.from_env({"MLOPS_MODEL_FAMILIES": "xgboost,lstm"})


def test_a_test_window_shorter_than_a_week_is_refused() -> None:
    with pytest.raises(ValueError, match=r"MLOPS_TEST_DAYS=6 is too short: .* at least 7 days"):
        Settings.from_env({"MLOPS_TEST_DAYS": "6"})


@pytest.mark.parametrize("value", ["0", "0.5", "1", "-0.05"])
def test_a_significance_outside_a_one_sided_level_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"MLOPS_GATE_SIGNIFICANCE=.* between 0 and 0\.5"):
        Settings.from_env({"MLOPS_GATE_SIGNIFICANCE": value})


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("MLOPS_MAPE_THRESHOLD", "MLOPS_WAPE_THRESHOLD"),
        ("MLOPS_MAPE_CONSECUTIVE_DAYS", "MLOPS_WAPE_CONSECUTIVE_DAYS"),
        ("MLOPS_GATE_CHAMPION_TOLERANCE", "MLOPS_GATE_SIGNIFICANCE"),
        ("MLOPS_GATE_SEGMENT_TOLERANCE", "MLOPS_GATE_CATEGORY_TOLERANCE"),
    ],
)
def test_a_replaced_variable_is_refused_with_its_successor(old: str, new: str) -> None:
    with pytest.raises(ValueError, match=f"{old} is no longer read; use {new}"):
        Settings.from_env({old: "10"})


def test_training_runs_in_this_process_unless_a_dask_scheduler_is_named() -> None:
    assert Settings.from_env({}).training.cluster == ""
    assert Settings.from_env({}).training.training_path == "single_process"
    named = Settings.from_env({"MLOPS_TRAINING_CLUSTER": "tcp://dask-scheduler:8786"}).training
    assert named.cluster == "tcp://dask-scheduler:8786"
    assert named.training_path == "xgboost.dask"


@pytest.mark.parametrize(
    "address", ["dask-scheduler:8786", "http://dask-scheduler:8786", "tcp://host", "tcp://h:99999"]
)
def test_a_training_cluster_that_is_no_scheduler_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match=r"MLOPS_TRAINING_CLUSTER=.* is not a Dask scheduler .*"):
        Settings.from_env({"MLOPS_TRAINING_CLUSTER": address})


def test_the_training_cluster_reaches_the_training_run_through_the_model_policy(
    tmp_path: Path,
) -> None:
    from mlops_assets.defs.resources import build_resources

    settings = Settings.from_env(
        {"MLOPS_DATA_DIR": str(tmp_path), "MLOPS_TRAINING_CLUSTER": "tcp://10.0.0.5:8786"}
    )
    policy = build_resources(settings)["model_policy"]
    assert policy.training_config().cluster == "tcp://10.0.0.5:8786"  # type: ignore[attr-defined]
