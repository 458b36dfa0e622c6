"""The Feast store config: embedded SQLite by default, a SQL registry and Redis when configured."""

from __future__ import annotations

import sqlite3
import warnings
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_assets.feature_repo.offline import FEATURE_VIEW, day_window, offline_dir, partition_path
from mlops_assets.feature_repo.repo import RepoObjects, build_repo
from mlops_assets.lib.features import ENTITY, TIMESTAMP

if TYPE_CHECKING:
    from feast import FeatureStore, RepoConfig

PROJECT = "mlops_assets"
# Object stores hold a file registry; any other URI is a SQLAlchemy URL of a SQL registry.
_FILE_REGISTRY_SCHEMES = ("s3://", "gs://", "file://")


def repo_settings(
    feature_store_dir: Path, registry: str = "", online_redis: str = ""
) -> dict[str, Any]:
    """The keyword arguments of `RepoConfig` (the content of a feature_store.yaml), feast-free."""
    root = feature_store_dir.resolve()
    if not registry:
        registry_config = {"registry_type": "file", "path": str(root / "registry.db")}
    elif "://" not in registry or registry.startswith(_FILE_REGISTRY_SCHEMES):
        registry_config = {"registry_type": "file", "path": registry}
    else:
        registry_config = {"registry_type": "sql", "path": registry}
    if registry_config["registry_type"] == "sql":
        # Without it a materialization blocks every reader of a shared SQL registry, and a killed
        # one blocks them for good (a file registry has no such state; Feast warns if it's set).
        registry_config["serve_features_while_materializing"] = True
    if online_redis:
        online = {"type": "redis", "connection_string": online_redis}
    else:
        online = {"type": "sqlite", "path": str(root / "online.db")}
    return {
        "project": PROJECT,
        "provider": "local",
        "registry": registry_config,
        "online_store": online,
        # The duckdb store needs ibis-framework, which is not installed; training sets use our
        # own DuckDB ASOF join (retrieval.py) over the same Parquet files instead.
        "offline_store": {"type": "file"},
        # The online store keeps one row per segment, so pulling only the latest row is enough.
        "materialization": {"pull_latest_features": True, "online_write_batch_size": 10_000},
        "entity_key_serialization_version": 3,
        "repo_path": root,
    }


def repo_config(feature_store_dir: Path, registry: str = "", online_redis: str = "") -> RepoConfig:
    """Local provider, file offline store over the daily partitions, registry and online store."""
    from feast import RepoConfig
    from feast.errors import FeastModuleImportError

    try:
        return RepoConfig(**repo_settings(feature_store_dir, registry, online_redis))
    except FeastModuleImportError as error:
        raise RuntimeError(
            f"the Feast config of {feature_store_dir} needs a client that is not installed "
            f"({error}); for MLOPS_FEAST_ONLINE_REDIS install 'feast[redis]', for a "
            "postgresql+psycopg:// MLOPS_FEAST_REGISTRY install 'feast[postgres]'"
        ) from error


def feature_store(
    feature_store_dir: Path, registry: str = "", online_redis: str = ""
) -> FeatureStore:
    """A FeatureStore over `feature_store_dir` (created if needed); nothing is applied yet."""
    from feast import FeatureStore

    feature_store_dir.mkdir(parents=True, exist_ok=True)
    config = repo_config(feature_store_dir, registry, online_redis)
    if config.online_store.type == "sqlite":
        # WAL lets online reads proceed while a materialization writes.
        with sqlite3.connect(config.online_store.path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    return FeatureStore(config=config)


def apply_repo(store: FeatureStore, feature_store_dir: Path) -> RepoObjects:
    """Register the repo's objects over the store's offline folder; idempotent."""
    objects = build_repo(offline_dir(feature_store_dir))
    store.apply(objects.all())
    return objects


def materialize_day(store: FeatureStore, day: date) -> int:
    """Load the latest row per segment within the UTC day into the online store; returns the
    rows written.

    What `FeatureStore.materialize` over the day's window writes, without its cost: Feast's file
    store reads every partition of the folder through dask to keep one day's rows (20 s at 7,600
    segments x 56 days), where the day's own partition holds exactly those rows. The interval is
    recorded in the registry as `materialize` records it."""
    import polars as pl

    view = store.get_feature_view(FEATURE_VIEW)
    path = partition_path(Path(view.batch_source.path), day)
    if not path.exists():
        return 0  # an empty window: Feast writes nothing either
    latest = (
        pl.read_parquet(path)
        .sort(TIMESTAMP)
        .group_by(ENTITY, maintain_order=True)
        .last()
        .with_columns(pl.col(TIMESTAMP).dt.convert_time_zone("UTC"))
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"feast\.")
        store.write_to_online_store(FEATURE_VIEW, latest.to_pandas())
    start, end = day_window(day)
    store.registry.apply_materialization(view, store.project, start, end)
    return latest.height


def materialize_day_feast(store: FeatureStore, day: date) -> None:
    """Feast's own `materialize` of the day's window: the reference `materialize_day` equals."""
    start, end = day_window(day)
    with warnings.catch_warnings():
        # The file store reads through dask, which warns about pandas internals on every call.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"dask\.")
        store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])
