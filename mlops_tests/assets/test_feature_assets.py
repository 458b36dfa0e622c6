"""Features, the Feast registry, the online store and the training set, run with Dagster."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.feature_repo import offline
from mlops_assets.lib.features import ENTITY, FEATURE_NAMES, FEATURES_SCHEMA, LABEL, TIMESTAMP
from mlops_assets.settings import Settings
from mlops_tests.helpers import Runs, run_graph

FIRST, LAST = date(2025, 3, 1), date(2025, 3, 17)
SEGMENTS = 2 * 3
# Model, predictions and monitoring have their own tests (test_model_assets.py, e2e/).
FEATURE_GRAPH = dg.AssetSelection.all() - dg.AssetSelection.groups(
    "model", "predictions", "monitoring"
)


def _run(
    settings: Settings,
    first: date,
    last: date,
    selection: dg.AssetSelection | None = None,
    instance: dg.DagsterInstance | None = None,
) -> Runs:
    return run_graph(settings, first, last, selection or FEATURE_GRAPH, instance)


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, Runs]]:
    """The graph up to the training set over 17 days of actuals of 6 segments (features for the
    16 forecast days after the first), built once for the module."""
    data_dir = tmp_path_factory.mktemp("features") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_DATA_DIR", str(data_dir))
        mp.setenv("MLOPS_CONSUMER_TYPES", "3")
        settings = Settings.from_env()
        result = _run(settings, FIRST, LAST)
        yield settings, result


def test_feature_graph_materializes(pipeline: tuple[Settings, Runs]) -> None:
    settings, result = pipeline
    assert result.success
    assert result.materialized() == {
        "raw_consumption",
        "raw_weather",
        "raw_weather_forecast",
        "staging/stg_consumption",
        "staging/stg_weather",
        "staging/stg_weather_forecast",
        "consumption_features",
        "feature_registry",
        "online_features",
        "training_set",
    }
    assert (settings.feature_store_dir / "registry.db").exists()


def test_offline_partitions_hold_one_row_per_segment_hour(
    pipeline: tuple[Settings, Runs],
) -> None:
    settings, _ = pipeline
    folder = offline.offline_dir(settings.feature_store_dir)
    names = sorted(p.name for p in folder.glob("*.parquet"))
    # Forecast days run one day ahead of the actuals: the day after the last staged one too.
    assert names[0] == f"{FIRST + timedelta(days=1)}.parquet"
    assert names[-1] == f"{LAST + timedelta(days=1)}.parquet"
    day = pl.read_parquet(offline.partition_path(folder, LAST))
    assert day.schema == pl.Schema(FEATURES_SCHEMA)
    assert day.height == SEGMENTS * 24
    # After two weeks of history every look-back feature is filled.
    assert day.null_count().sum_horizontal().item() == 0


def test_feature_catalog_is_in_the_metadata(
    pipeline: tuple[Settings, Runs],
) -> None:
    _, result = pipeline
    meta = result.asset_materializations_for_node("consumption_features")[-1].metadata
    catalog = meta["feature_catalog"].value
    assert [r.data["feature"] for r in catalog.records] == list(FEATURE_NAMES)
    assert all(r.data["description"] and r.data["owner"] for r in catalog.records)


def test_online_store_serves_the_latest_offline_row(
    pipeline: tuple[Settings, Runs],
) -> None:
    settings, _ = pipeline
    from mlops_assets.feature_repo.retrieval import online_features as read_online
    from mlops_assets.feature_repo.store import feature_store

    store = feature_store(settings.feature_store_dir)
    # The newest features are those of the forecast day after the last staged day.
    last_day = pl.read_parquet(
        offline.partition_path(
            offline.offline_dir(settings.feature_store_dir), LAST + timedelta(days=1)
        )
    )
    latest = last_day.filter(pl.col(TIMESTAMP) == pl.col(TIMESTAMP).max()).sort(ENTITY)
    segments = latest.get_column(ENTITY).to_list()

    served = read_online(store, segments, [f"consumption_features:{n}" for n in FEATURE_NAMES])

    served = served.sort(ENTITY).select(ENTITY, *FEATURE_NAMES)
    assert served.equals(latest.select(ENTITY, *FEATURE_NAMES))


def test_an_older_day_never_overwrites_the_online_store(
    pipeline: tuple[Settings, Runs],
) -> None:
    """A correction re-runs old forecast days; the online store keeps the newest features."""
    settings, _ = pipeline
    from mlops_assets.feature_repo.retrieval import online_features as read_online
    from mlops_assets.feature_repo.store import feature_store

    newest, older = LAST + timedelta(days=1), LAST - timedelta(days=5)
    from mlops_assets.defs.features.assets import online_features
    from mlops_assets.defs.resources import build_resources

    instance = dg.DagsterInstance.ephemeral()
    first, again = (
        dg.materialize(
            [online_features],
            partition_key=day.isoformat(),
            resources=build_resources(settings),
            instance=instance,
        )
        for day in (newest, older)
    )

    assert first.success and again.success
    [loaded] = first.asset_materializations_for_node("online_features")
    [skipped] = again.asset_materializations_for_node("online_features")
    assert loaded.metadata["loaded_day"].value == newest.isoformat()
    assert skipped.metadata["loaded_day"].value == "none"
    assert skipped.metadata["online_store_day"].value == newest.isoformat()
    last_day = pl.read_parquet(
        offline.partition_path(offline.offline_dir(settings.feature_store_dir), newest)
    )
    latest = last_day.filter(pl.col(TIMESTAMP) == pl.col(TIMESTAMP).max()).sort(ENTITY)
    store = feature_store(settings.feature_store_dir)
    served = read_online(
        store,
        latest.get_column(ENTITY).to_list(),
        [f"consumption_features:{n}" for n in FEATURE_NAMES],
    )
    assert (
        served.sort(ENTITY)
        .select(ENTITY, *FEATURE_NAMES)
        .equals(latest.select(ENTITY, *FEATURE_NAMES))
    )


def test_training_set_joins_labels_with_their_features(
    pipeline: tuple[Settings, Runs],
) -> None:
    settings, result = pipeline
    frame = pl.read_parquet(settings.feature_store_dir / "training_sets" / "training_set.parquet")
    # Default window: every staged day that has a staged day before it (its features need D-1),
    # up to the newest: 16 of the 17 days.
    assert frame.height == 16 * 24 * SEGMENTS
    days = frame.get_column(TIMESTAMP).dt.date()
    assert days.min() == FIRST + timedelta(days=1) and days.max() == LAST
    assert frame.filter(days == FIRST + timedelta(days=1)).get_column("lag_24h").null_count() == 0
    assert {ENTITY, TIMESTAMP, LABEL, *FEATURE_NAMES} <= set(frame.columns)
    sample = frame.filter(pl.col(TIMESTAMP).dt.date() == LAST).sort(ENTITY, TIMESTAMP)
    stored = pl.read_parquet(
        offline.partition_path(offline.offline_dir(settings.feature_store_dir), LAST)
    ).sort(ENTITY, TIMESTAMP)
    assert sample.select(FEATURE_NAMES).equals(stored.select(FEATURE_NAMES))
    meta = result.asset_materializations_for_node("training_set")[-1].metadata
    assert meta["dagster/row_count"].value == frame.height
    assert meta["window"].value.startswith(f"[{FIRST + timedelta(days=1)}")
    assert meta["label_min"].value > 0


def test_the_training_window_is_capped_by_settings(
    pipeline: tuple[Settings, Runs], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_assets.definitions import ASSETS
    from mlops_assets.defs.resources import build_resources

    settings, _ = pipeline
    monkeypatch.setenv("MLOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MLOPS_TRAINING_MAX_DAYS", "5")
    capped = Settings.from_env()
    result = dg.materialize(
        ASSETS,
        selection=dg.AssetSelection.assets("training_set"),
        resources=build_resources(capped),
        raise_on_error=False,
    )
    assert result.success
    path = capped.feature_store_dir / "training_sets" / "training_set.parquet"
    days = pl.read_parquet(path).get_column(TIMESTAMP).dt.date().unique().sort()
    assert days.to_list() == [LAST - timedelta(days=k) for k in range(4, -1, -1)]


def test_rerunning_a_partition_never_duplicates(
    pipeline: tuple[Settings, Runs], tmp_path: Path
) -> None:
    settings, _ = pipeline
    path = offline.partition_path(offline.offline_dir(settings.feature_store_dir), LAST)
    before = pl.read_parquet(path)

    again = _run(
        settings,
        LAST - timedelta(days=1),
        LAST - timedelta(days=1),
        selection=dg.AssetSelection.assets("consumption_features", "online_features"),
    )

    assert again.success
    after = pl.read_parquet(path)
    assert after.height == before.height and after.equals(before)


def test_features_refuse_days_without_staged_inputs(mlops_env: Settings) -> None:
    day = date(2025, 3, 5)
    # The weather forecast for `day` is staged, but the consumption of the day before is not.
    forecast = dg.AssetSelection.assets("raw_weather_forecast", ["staging", "stg_weather_forecast"])
    assert _run(mlops_env, day - timedelta(days=1), day - timedelta(days=1), forecast).success

    before = day - timedelta(days=1)
    result = _run(mlops_env, before, before, dg.AssetSelection.assets("consumption_features"))

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.to_string()
    assert "staging.stg_consumption has no rows" in message and before.isoformat() in message
    assert not offline.offline_dir(mlops_env.feature_store_dir).exists()
