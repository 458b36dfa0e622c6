"""One training, end to end and without Dagster: split, search, fit (rounds chosen on validation,
then refit on train + validation), score against the baselines and the champion on the same test
window, decide the gate, log everything to MLflow. Also the reproduction of a registered version
from its lineage."""

from __future__ import annotations

import hashlib
import math
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.feature_repo.offline import FEATURE_VIEW
from mlops_assets.feature_repo.repo import FEATURE_SERVICE, OWNER
from mlops_assets.lib import dask_training, families
from mlops_assets.lib import forecasting as fc
from mlops_assets.lib import model_report as report
from mlops_assets.lib.registry import CHAMPION, Registry, RegistryError, TrainingRecord

GATE_TAG = "gate"
PATH_TAG = "training_path"  # where the XGBoost fits ran: one of the two below
SINGLE_PROCESS, DASK_PATH = "single_process", "xgboost.dask"
CONFIG_FILE = "training_config.json"
_LIB = Path(__file__).resolve().parent
# The code that decides what a model is: a change here is a new model, and the version says so.
CODE_VERSION = hashlib.sha256(
    b"".join(
        (_LIB / name).read_bytes()
        for name in (
            "features.py",
            "forecasting.py",
            "families.py",
            "dask_training.py",
            "training.py",
        )
    )
).hexdigest()[:12]


class TrainingDataError(ValueError):
    """The training set cannot train a model (missing, too short, wrong columns)."""


@dataclass(frozen=True)
class TrainingConfig:
    """The split, the model families, the search budget (0 trials: the default configuration)
    and the seed. The test window is at least a week (`forecasting.MIN_TEST_DAYS`) so the gate
    sees every weekday; so is the validation window, on which the families are compared and
    XGBoost's rounds are chosen."""

    validation_days: int = 7
    test_days: int = 7
    search_trials: int = 0
    search_time_limit_s: float = 300.0
    seed: int = 7
    families: tuple[str, ...] = families.FAMILIES
    # The training set spans every staged day up to this many (the newest ones): a longer
    # history teaches more seasons, a cap bounds the cost as the lake grows.
    max_training_days: int = 365
    # The fits see at most this many training rows, a seeded uniform sample (0: all): beyond a
    # million rows the global model gains little and its time keeps growing (bench/README.md).
    max_training_rows: int = 1_000_000
    # A Dask scheduler (tcp://host:port) that fits the global XGBoost model through xgboost.dask;
    # empty: every fit runs in this process.
    cluster: str = ""

    @property
    def training_path(self) -> str:
        return DASK_PATH if self.cluster else SINGLE_PROCESS


@dataclass
class CandidateResult:
    version: str
    run_id: str
    candidate: fc.Evaluation
    baseline: fc.Evaluation  # the best of the baselines on the test window
    champion: fc.Evaluation | None
    champion_version: str | None
    decision: fc.GateDecision
    window: tuple[date, date]
    data_version: str
    rows: dict[str, int]
    best_iteration: int  # xgboost's, chosen on validation; its refit has best_iteration + 1
    trials: int
    family: str  # the family registered: the best on the validation window
    candidates: pl.DataFrame  # every family's validation score (families.Selection.table)
    seconds: float
    forecast_markdown: str


def read_training_set(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise TrainingDataError(
            f"no training set at {path}: materialize the training_set asset first"
        )
    return pl.read_parquet(path)


def git_commit(root: Path = _LIB.parent.parent) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def train_candidate(
    *,
    training_set_path: Path,
    registry: Registry,
    config: TrainingConfig,
    gate_policy: fc.GatePolicy,
    lineage: Mapping[str, str],
    log: Callable[[str], None] = print,
) -> CandidateResult:
    """Train, evaluate against the baselines and the champion, decide the gate, and register the
    candidate as challenger. The champion alias is never touched here."""
    started = time.perf_counter()
    frame = read_training_set(training_set_path)
    version_of_data = fc.data_version(frame)
    window = fc.training_window(frame)
    try:
        split = fc.time_split(frame, config.validation_days, config.test_days)
    except ValueError as error:
        raise TrainingDataError(f"{training_set_path}: {error}") from error
    del frame  # the split holds what training needs (slices, or a filtered copy)
    log(
        f"split: train {split.train.height:,} rows, validation {split.validation.height:,}, "
        f"test {split.test.height:,} (from {split.test_start:%Y-%m-%d})"
    )
    search = fc.search(
        split.train,
        config.search_trials,
        config.search_time_limit_s,
        config.seed,
        on_trial=lambda t: log(f"trial {t.number}: cv MAE {t.cv_mae:.2f} in {t.seconds:.1f}s"),
    )
    params = search.best.params if search.best else fc.BoosterParams()
    if config.cluster:
        log(f"xgboost fits on the Dask cluster at {config.cluster} (xgboost.dask)")
    selection = families.select(
        split,
        params,
        config.seed,
        config.families,
        log=log,
        cluster=config.cluster,
        max_rows=config.max_training_rows,
    )
    chosen = selection.forecaster
    xgb_fit = selection.fit
    best_iteration = xgb_fit.best_iteration if xgb_fit else 0

    predictions = {"candidate": chosen.predict(split.test)}
    champion = registry.by_alias(CHAMPION)
    if champion is not None:
        predictions["champion"] = registry.load_forecaster(champion.version).predict(split.test)
    evaluations = fc.evaluate_all(split.test, predictions)
    decision = fc.gate(
        evaluations["candidate"],
        [evaluations[name] for name in fc.BASELINES],
        evaluations.get("champion"),
        gate_policy,
    )
    for reason in decision.reasons:
        log(f"gate: {reason}")

    windows = {part: split.window(part) for part in ("train", "validation", "test")}
    rows = {part: getattr(split, part).height for part in ("train", "validation", "test")}
    tags = {
        **lineage,
        "code_version": CODE_VERSION,
        "git_commit": git_commit(),
        "training_set_version": version_of_data,
        "training_window": f"{window[0]}..{window[1]}",
        "feature_views": FEATURE_VIEW,
        "feature_service": FEATURE_SERVICE,
        "owner": OWNER,
        GATE_TAG: "passed" if decision.passed else "failed",
        "gate_decided_by": decision.decided_by,
        "best_baseline": decision.best_baseline,
        families.FAMILY_TAG: selection.chosen,
        PATH_TAG: config.training_path,
        **({"training_cluster": config.cluster} if config.cluster else {}),
    }
    scored = fc.comparable_rows(
        split.test.with_columns(
            *[pl.Series(f"pred_{k}", v, dtype=pl.Float64) for k, v in predictions.items()]
        )
    )
    columns = {
        "candidate": "pred_candidate",
        decision.best_baseline: fc.BASELINES[decision.best_baseline],
    }
    if "champion" in predictions:
        columns["champion"] = "pred_champion"
    forecast = report.forecast_vs_actual(scored, columns)
    importance = (
        fc.feature_importance(chosen.booster)
        if isinstance(chosen, families.XGBoostForecaster)
        else None
    )
    candidates = selection.table()
    card = report.model_card(
        model_name=registry.model_name,
        version=None,
        owner=OWNER,
        tags={k: v for k, v in tags.items() if k in ("code_version", "feature_views", GATE_TAG)},
        window=window,
        split_windows=windows,
        rows=rows,
        params=params,
        seed=config.seed,
        family=chosen.describe(),
        candidates=candidates,
        best_iteration=best_iteration,
        fit_rows=selection.rows,
        trials=len(search.trials),
        search_stopped_by=search.stopped_by,
        search_space=fc.SEARCH_SPACE,
        decision=decision,
        per_horizon=evaluations["candidate"].per_horizon,
        training_set_path=str(training_set_path),
        data_version=version_of_data,
    )
    training_config = {
        "booster": params.as_dict(),
        "seed": config.seed,
        "validation_days": config.validation_days,
        "test_days": config.test_days,
        "families": list(config.families),
        PATH_TAG: config.training_path,
        "window": [window[0].isoformat(), (window[1] + timedelta(days=1)).isoformat()],
        "training_set_version": version_of_data,
        "code_version": CODE_VERSION,
    }
    metrics = {
        **{f"test_{k}": v for k, v in evaluations["candidate"].overall.items() if k != "rows"},
        **{f"{name}_{k}": v for name in fc.BASELINES for k, v in evaluations[name].overall.items()},
        **{
            f"validation_{k}_{c.family}": c.validation.overall[k]
            for c in selection.candidates
            for k in ("wape", "mape", "mae")
        },
        **(
            {f"champion_{k}": v for k, v in evaluations["champion"].overall.items()}
            if "champion" in evaluations
            else {}
        ),
        "best_iteration": float(best_iteration),
        **({"refit_rounds": float(best_iteration + 1)} if xgb_fit else {}),
        "refit_rows": float(selection.rows),
        "fit_seconds": selection.seconds,
        **{f"{part}_rows": float(n) for part, n in rows.items()},
        "gate_passed": float(decision.passed),
        "gate_dm_statistic": decision.test.statistic,
        "gate_p_value": decision.test.p_value,
        **{
            f"dm_{stat}_vs_{row['forecaster']}": row[column]
            for row in decision.comparison.to_dicts()
            for stat, column in (("statistic", "dm_statistic"), ("p_value", "p_value"))
            if row[column] is not None
        },
    }
    # MLflow rejects NaN and infinities in some stores (a test on too few days is NaN).
    metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
    sample = split.test.head(5)
    record = TrainingRecord(
        run_name=f"candidate {window[1]}",
        forecaster=chosen,
        params={
            **params.as_dict(),
            "seed": config.seed,
            "validation_days": config.validation_days,
            "test_days": config.test_days,
            "search_trials": config.search_trials,
            "search_time_limit_s": config.search_time_limit_s,
            "level": f"{fc.LEVEL} (fallback {fc.LEVEL_FALLBACK})",
            "families": ",".join(config.families),
            "model_family": selection.chosen,
            PATH_TAG: config.training_path,
            "training_cluster": config.cluster or "none",
            **({"dask_workers": xgb_fit.workers} if xgb_fit and xgb_fit.cluster else {}),
        },
        metrics=metrics,
        tags=tags,
        curve=xgb_fit.curve if xgb_fit else {"train": [], "validation": []},
        tables={
            "trials": search.table().to_pandas() if search.trials else None,
            "per_segment": evaluations["candidate"].per_segment.to_pandas(),
            "per_horizon": evaluations["candidate"].per_horizon.to_pandas(),
            "comparison": decision.comparison.to_pandas(),
            "category_comparison": decision.categories.to_pandas(),
            "feature_importance": importance.to_pandas() if importance is not None else None,
            "candidates": candidates.to_pandas(),
        },
        figures={
            **(
                {"learning_curve": report.learning_curve(xgb_fit.curve, xgb_fit.best_iteration)}
                if xgb_fit
                else {}
            ),
            **(
                {"feature_importance": report.importance(importance)}
                if importance is not None
                else {}
            ),
            "forecast_vs_actual": forecast,
            "error_by_segment": report.error_by_segment(
                evaluations["candidate"], evaluations[decision.best_baseline]
            ),
        },
        model_card=card,
        evaluation={
            "config": training_config,
            "gate": {
                "passed": decision.passed,
                "decided_by": decision.decided_by,
                "policy": asdict(gate_policy),
                "best_baseline": decision.best_baseline,
                "test": asdict(decision.test),
                "tests": [asdict(t) for t in (decision.baseline_test, decision.champion_test) if t],
                "reasons": decision.reasons,
                "comparison": decision.comparison.to_dicts(),
                "categories": decision.categories.to_dicts(),
            },
            "evaluations": {k: v.to_json() for k, v in evaluations.items()},
            "candidates": candidates.to_dicts(),
        },
        config=training_config,
        reference=reference_sample(pl.concat([split.train, split.validation]), chosen, config.seed),
        input_example=sample,
    )
    info = registry.log_training(record)
    log(f"registered {registry.model_name} v{info.version} as challenger (run {info.run_id})")
    return CandidateResult(
        version=info.version,
        run_id=info.run_id,
        candidate=evaluations["candidate"],
        baseline=evaluations[decision.best_baseline],
        champion=evaluations.get("champion"),
        champion_version=champion.version if champion else None,
        decision=decision,
        window=window,
        data_version=version_of_data,
        rows=rows,
        best_iteration=best_iteration,
        trials=len(search.trials),
        family=selection.chosen,
        candidates=candidates,
        seconds=time.perf_counter() - started,
        forecast_markdown=report.markdown_image(forecast, "forecast vs actual"),
    )


REFERENCE_ROWS = 50_000


def reference_sample(
    fitted_on: pl.DataFrame, forecaster: families.Forecaster, seed: int
) -> pl.DataFrame:
    """Up to 50k rows the model was fitted on, with its own predictions: the drift reference."""
    sample = (
        fitted_on.sample(min(fitted_on.height, REFERENCE_ROWS), seed=seed)
        if fitted_on.height
        else fitted_on
    )
    return sample.with_columns(pl.Series("prediction", forecaster.predict(sample)))


@dataclass(frozen=True)
class Reproduction:
    version: str
    window: tuple[str, str]
    data_version_logged: str
    data_version_rebuilt: str
    metrics: pl.DataFrame  # metric, logged, reproduced, abs_diff
    # Relative: a version fitted on a Dask cluster is refit here in one process, which agrees
    # with it within dask_training.TOLERANCE, not bit for bit. 0: bit for bit.
    tolerance: float = 0.0

    @property
    def reproduced(self) -> bool:
        same_data = self.data_version_logged == self.data_version_rebuilt
        limit = (self.metrics.get_column("logged").abs() * self.tolerance).clip(lower_bound=1e-9)
        return same_data and bool((self.metrics.get_column("abs_diff") <= limit).all())


def reproduce(
    registry: Registry,
    version: str,
    build_training_set: Callable[[datetime, datetime], pl.DataFrame],
    log: Callable[[str], None] = print,
) -> Reproduction:
    """Rebuild the version's training set from its logged window, refit with its logged
    configuration and seed, and compare the test metrics with the logged ones."""
    info = registry.version(version)
    config = registry.training_config(info.run_id)
    _, logged_metrics, tags = registry.run_record(info.run_id)
    if tags.get("code_version") != CODE_VERSION:
        log(
            f"warning: version {version} was trained by code {tags.get('code_version')}, this is "
            f"{CODE_VERSION} (git commit then: {tags.get('git_commit')})"
        )
    start, end = (
        datetime.combine(date.fromisoformat(d), datetime.min.time(), tzinfo=UTC)
        for d in config["window"]
    )
    log(f"rebuilding the training set for [{start:%Y-%m-%d}, {end:%Y-%m-%d})")
    frame = build_training_set(start, end)
    rebuilt_version = fc.data_version(frame)
    try:
        split = fc.time_split(frame, config["validation_days"], config["test_days"])
    except ValueError as error:
        raise RegistryError(
            f"version {version} cannot be refit by this code ({error}); check out the commit "
            f"that trained it ({tags.get('git_commit')}) to reproduce it"
        ) from error
    tolerance = 0.0
    if config.get(PATH_TAG) == DASK_PATH:
        tolerance = dask_training.TOLERANCE
        log(
            f"version {version} was fitted on a Dask cluster; refitting it in this process, "
            f"the metrics must agree within {tolerance:.0%} (relative)"
        )
    family = tags.get(families.FAMILY_TAG, "xgboost")
    booster = {"max_bin": fc.LEGACY_MAX_BIN, **config["booster"]}
    refit = families.select(split, fc.BoosterParams(**booster), config["seed"], [family])
    evaluation = fc.evaluate_all(split.test, {"candidate": refit.forecaster.predict(split.test)})
    # Versions trained before WAPE existed logged the others only.
    names = [name for name in fc.METRICS if f"test_{name}" in logged_metrics]
    if not names:
        raise RegistryError(f"version {version}'s run has no test metric to compare")
    rows = []
    for name in names:
        logged = logged_metrics[f"test_{name}"]
        again = evaluation["candidate"].overall[name]
        rows.append(
            {"metric": name, "logged": logged, "reproduced": again, "abs_diff": abs(logged - again)}
        )
    return Reproduction(
        version=version,
        window=tuple(config["window"]),  # type: ignore[arg-type]
        data_version_logged=config["training_set_version"],
        data_version_rebuilt=rebuilt_version,
        metrics=pl.DataFrame(rows),
        tolerance=tolerance,
    )
