"""Scoring a range of days in one point-in-time join and one pass gives every day exactly the
frame (and the Parquet file) that scoring the day alone gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from mlops_assets.feature_repo import offline
from mlops_assets.feature_repo.repo import TTL
from mlops_assets.feature_repo.retrieval import point_in_time_join
from mlops_assets.lib import scenario, scoring
from mlops_assets.lib.features import ENTITY, FEATURE_NAMES
from mlops_assets.lib.generator import GeneratorConfig
from mlops_assets.lib.lake import write_parquet_atomic

TRAINING_START = date(2025, 2, 3)
TRAINING_DAYS = 21
SCORED = [TRAINING_START + timedelta(days=TRAINING_DAYS + i) for i in range(4)]
ISSUED = datetime(2025, 3, 1, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def scored_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An offline store of 25 generated days at 8 segments, an xgboost champion and a ridge
    challenger fitted on the first 21, and the segments of the 4 days after them."""
    training = [TRAINING_START + timedelta(days=i) for i in range(TRAINING_DAYS)]
    history = scenario.generate(GeneratorConfig(n_consumer_types=4), [*training, *SCORED])
    store = offline.offline_dir(tmp_path_factory.mktemp("feature_store"))
    for day, frame in history.features.items():
        offline.write_partition(store, day, frame)
    labelled = history.labelled(training)
    champion, _ = scenario.train_like_production(labelled, model_families=("xgboost",))
    challenger, _ = scenario.train_like_production(labelled, model_families=("ridge",))
    segments = {
        # The last day misses a segment: a range's days need not hold the same segments.
        day: sorted(history.features[day].get_column(ENTITY).unique())[: 8 - (day == SCORED[-1])]
        for day in SCORED
    }
    return {
        "store": store,
        "segments": segments,
        "models": [
            scoring.ScoringModel("champion", "3", champion),
            scoring.ScoringModel("challenger", "4", challenger),
        ],
    }


def _join(store: Path, entities: pl.DataFrame) -> pl.DataFrame:
    return point_in_time_join(entities, store, FEATURE_NAMES, TTL)


def _day_by_day(setup: dict[str, Any]) -> dict[date, pl.DataFrame]:
    return {
        day: scoring.score_day(
            _join(setup["store"], scoring.day_entities(segments, day)),
            setup["models"],
            day,
            ISSUED,
        )
        for day, segments in setup["segments"].items()
    }


@pytest.mark.parametrize("chunk_rows", [scoring.SCORING_CHUNK_ROWS, 2 * 24 * 8, 1])
def test_a_range_scored_in_one_join_and_pass_equals_each_day_scored_alone(
    scored_setup: dict[str, Any], chunk_rows: int, tmp_path: Path
) -> None:
    alone = _day_by_day(scored_setup)
    features = _join(scored_setup["store"], scoring.range_entities(scored_setup["segments"]))

    ranged = dict(
        scoring.score_days(features, scored_setup["models"], SCORED, ISSUED, chunk_rows=chunk_rows)
    )

    assert list(ranged) == SCORED
    for day in SCORED:
        assert ranged[day].equals(alone[day]), day
        assert ranged[day].get_column(scoring.ROLE).unique().sort().to_list() == [
            "challenger",
            "champion",
            "same_hour_yesterday",
            "seasonal_naive",
            "weekday_naive",
        ]
        # The file each day writes is the same, byte for byte.
        one = write_parquet_atomic(alone[day], tmp_path / "alone" / f"{day}.parquet")
        other = write_parquet_atomic(ranged[day], tmp_path / "range" / f"{day}.parquet")
        assert one.read_bytes() == other.read_bytes(), day
    assert ranged[SCORED[-1]].height == 7 * 24 * 5


def test_each_model_predicts_once_per_chunk_of_days(scored_setup: dict[str, Any]) -> None:
    calls: list[int] = []

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, frame: pl.DataFrame) -> Any:
            calls.append(frame.height)
            return self.inner.predict(frame)

    models = [
        scoring.ScoringModel(m.role, m.version, Counting(m.forecaster))  # type: ignore[arg-type]
        for m in scored_setup["models"]
    ]
    features = _join(scored_setup["store"], scoring.range_entities(scored_setup["segments"]))

    list(scoring.score_days(features, models, SCORED, ISSUED))

    assert calls == [features.height, features.height]  # champion and challenger, all 4 days


def test_by_day_slices_each_day_and_gives_a_day_without_rows_an_empty_frame() -> None:
    first, second, third = SCORED[:3]
    entities = scoring.range_entities({first: ["DK1-111", "DK2-111"], third: ["DK1-111"]})

    split = scoring.by_day(entities, [first, second, third])

    assert [f.height for f in split.values()] == [48, 0, 24]
    assert split[first].equals(scoring.day_entities(["DK1-111", "DK2-111"], first))
    assert split[second].columns == entities.columns


def test_by_day_refuses_a_frame_whose_days_are_interleaved() -> None:
    first, second = SCORED[:2]
    shuffled = pl.concat(
        [
            scoring.day_entities(["DK1-111"], first),
            scoring.day_entities(["DK1-111"], second),
            scoring.day_entities(["DK2-111"], first),
        ]
    )

    with pytest.raises(ValueError, match="each day must appear once, in one block"):
        scoring.by_day(shuffled, [first, second])
