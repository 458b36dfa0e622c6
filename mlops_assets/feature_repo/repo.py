"""The Feast objects of the consumption forecast, as code over the offline partition folder."""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FunctionType
from typing import TYPE_CHECKING, Any

import polars as pl

from mlops_assets.feature_repo.offline import FEATURE_VIEW
from mlops_assets.lib.features import ENTITY, FEATURES, TIMESTAMP

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureView, FileSource
    from feast.on_demand_feature_view import OnDemandFeatureView

ENTITY_NAME = "segment"
SOURCE_NAME = "consumption_features_parquet"
ON_DEMAND_VIEW = "consumption_ratios"
FEATURE_SERVICE = "consumption_forecast_v1"
OWNER = "team:ml-platform"
TAGS = {"domain": "energy", "dataset": "consumption_de35", "grain": "segment_hour"}
# A feature row describes its own target hour, so training joins hit an exact row. The TTL only
# bounds the fallback when hours are missing: the day-ahead horizon (24 h) plus one day of slack
# for a late partition. Older rows would be more misleading than nulls, and a zero TTL would mean
# "unlimited look-back", which makes Feast's join cost grow with the whole history.
TTL = timedelta(days=2)
ON_DEMAND_FEATURES: dict[str, str] = {
    "lag_24h_vs_week": "lag_24h / rolling_mean_168h: yesterday's level against the weekly mean.",
    "lag_24h_anomaly": "(lag_24h - rolling_mean_168h) / rolling_std_168h: yesterday's z-score.",
}
_FEAST_TYPES = {pl.String(): "String", pl.Int64(): "Int64", pl.Float64(): "Float64"}


@dataclass(frozen=True)
class RepoObjects:
    """Everything `FeatureStore.apply` needs, in one place."""

    entity: Entity
    source: FileSource
    feature_view: FeatureView
    on_demand_view: OnDemandFeatureView
    feature_service: FeatureService

    def all(self) -> list[Any]:
        return [
            self.entity,
            self.source,
            self.feature_view,
            self.on_demand_view,
            self.feature_service,
        ]


def consumption_ratios(inputs: dict) -> dict:
    """Ratios of stored features at request time; a zero or missing denominator gives None.

    Feast 0.67 re-executes this source alone (only `pd` and `np` in scope), so it must not call
    other functions of this module.
    """
    vs_week, anomaly = [], []
    rows = zip(
        inputs["lag_24h"], inputs["rolling_mean_168h"], inputs["rolling_std_168h"], strict=True
    )
    for lag, mean, std in rows:
        known = lag is not None and mean is not None
        vs_week.append(lag / mean if known and mean else None)
        anomaly.append((lag - mean) / std if known and std else None)
    return {"lag_24h_vs_week": vs_week, "lag_24h_anomaly": anomaly}


def build_repo(offline_dir: Path) -> RepoObjects:
    """The entity, source, feature view, on-demand view and feature service over `offline_dir`."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.data_format import ParquetFormat
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64, Int64, String

    feast_types = {"String": String, "Int64": Int64, "Float64": Float64}
    common = {"owner": OWNER, "tags": TAGS}
    segment = Entity(
        name=ENTITY_NAME,
        join_keys=[ENTITY],
        value_type=ValueType.STRING,
        description="A price area and DE35 consumer type: the unit we forecast.",
        **common,
    )
    source = FileSource(
        name=SOURCE_NAME,
        path=str(offline_dir.resolve()),
        file_format=ParquetFormat(),
        timestamp_field=TIMESTAMP,
        description="Daily Parquet partitions of the feature rows, one file per UTC day.",
        **common,
    )
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[segment],
        ttl=TTL,
        schema=[
            Field(name=ENTITY, dtype=String, description="Segment key: <price area>-<type>."),
            *[
                Field(
                    name=f.name, dtype=feast_types[_feast_type(f.dtype)], description=f.description
                )
                for f in FEATURES
            ],
        ],
        source=source,
        online=True,
        description="Hourly forecasting features per segment; the row of hour t uses data <= t-24h",
        **common,
    )
    ratios = on_demand_feature_view(
        sources=[view],
        # Feast 0.67 compares the declared fields, descriptions included, with fields it infers
        # without one, so described outputs fail to apply; the description carries them instead.
        schema=[Field(name=name, dtype=Float64) for name in ON_DEMAND_FEATURES],
        mode="python",
        description="Computed at request time. "
        + " ".join(f"{name} = {text}" for name, text in ON_DEMAND_FEATURES.items()),
        **common,
    )(_copy(consumption_ratios))
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[view, ratios],
        description="The features of the day-ahead consumption model, version 1.",
        **common,
    )
    return RepoObjects(segment, source, view, ratios, service)


def repo_fingerprint() -> str:
    """A stable hash of the definitions, for a Dagster `code_version`; no feast import needed."""
    definition = {
        "entity": [ENTITY_NAME, ENTITY],
        "source": [SOURCE_NAME, FEATURE_VIEW, TIMESTAMP],
        "view": FEATURE_VIEW,
        "schema": [[f.name, _feast_type(f.dtype), f.description] for f in FEATURES],
        "ttl_seconds": TTL.total_seconds(),
        "owner": OWNER,
        "tags": TAGS,
        "on_demand": [ON_DEMAND_VIEW, ON_DEMAND_FEATURES, inspect.getsource(consumption_ratios)],
        "service": FEATURE_SERVICE,
    }
    encoded = json.dumps(definition, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def _copy(function: FunctionType) -> FunctionType:
    # Feast's decorator rewrites the function's `__module__` to "__main__", after which a second
    # build in the same process cannot find its source; give it a copy each time.
    clone = FunctionType(function.__code__, function.__globals__, function.__name__)
    clone.__doc__ = function.__doc__
    clone.__annotations__ = dict(function.__annotations__)
    return clone


def _feast_type(dtype: pl.DataType) -> str:
    try:
        return _FEAST_TYPES[dtype]
    except KeyError:
        raise ValueError(
            f"feature dtype {dtype} has no Feast type; use String, Int64 or Float64 in FEATURES"
        ) from None
