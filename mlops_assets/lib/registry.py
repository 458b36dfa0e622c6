"""The MLflow side of a model's life: one tracked run per training, a registered version with the
`challenger` alias, promotion to `champion` (keeping `previous_champion`), and rollback.

Models travel in XGBoost's own UBJ format and are loaded with `xgboost.Booster(model_file=...)`,
never unpickled. mlflow is imported inside the functions (about 2.5 s).
"""

from __future__ import annotations

import fcntl
import functools
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import xgboost as xgb
    from mlflow import MlflowClient

    from mlops_assets.lib import families

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
MODEL_FILE = "model.ubj"
EVALUATION_FILE = "evaluation.json"
CONFIG_FILE = "training_config.json"
# A sample of the training rows (features and the model's predictions): the drift reference.
REFERENCE_FILE = "reference.parquet"


class RegistryUnavailable(RuntimeError):
    """MLflow could not be reached or refused a call; worth a retry."""


class RegistryError(RuntimeError):
    """The registry is reachable but its state does not allow the request (no champion, ...)."""


@functools.cache
def _initialise_sqlite(tracking_uri: str) -> None:
    from mlflow import MlflowClient

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    run_id: str
    aliases: tuple[str, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class Registry:
    """Where runs and models live: a tracking URI (sqlite:/// by default, a server in production),
    the experiment and the registered model's name."""

    tracking_uri: str
    artifact_location: str  # empty: let the tracking server choose (mlflow-artifacts:/)
    experiment: str
    model_name: str
    ui_url: str = ""  # links in the Dagster UI, when a tracking server is reachable by people

    # -- connection -------------------------------------------------------------------------

    def client(self) -> MlflowClient:
        # Download progress bars only clutter run logs.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow import MlflowClient

        with self._errors("connect"):
            self._initialise_once()
            return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _initialise_once(self) -> None:
        """Create a fresh sqlite store under a file lock: parallel first touches race (MLflow).
        Done once per process and store; a store deleted since is initialised again."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return
        if not Path(self.tracking_uri.removeprefix("sqlite:///")).exists():
            _initialise_sqlite.cache_clear()
        _initialise_sqlite(self.tracking_uri)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        from mlflow.exceptions import MlflowException

        try:
            yield
        except (RegistryError, RegistryUnavailable):
            raise
        except MlflowException as error:
            if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                raise RegistryError(f"MLflow at {self.tracking_uri}: {action}: {error}") from error
            raise RegistryUnavailable(
                f"MLflow at {self.tracking_uri} failed to {action}: {error}"
            ) from error
        except OSError as error:
            raise RegistryUnavailable(
                f"MLflow at {self.tracking_uri} is unreachable ({action}): {error}"
            ) from error

    def experiment_id(self) -> str:
        client = self.client()
        with self._errors("find the experiment"):
            found = client.get_experiment_by_name(self.experiment)
            if found is not None:
                return str(found.experiment_id)
            return str(
                client.create_experiment(
                    self.experiment, artifact_location=self.artifact_location or None
                )
            )

    def run_url(self, run_id: str) -> str:
        if not self.ui_url:
            return ""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    def version_url(self, version: str) -> str:
        if not self.ui_url:
            return ""
        return f"{self.ui_url.rstrip('/')}/#/models/{self.model_name}/versions/{version}"

    # -- logging a training -----------------------------------------------------------------

    def log_training(self, training: TrainingRecord) -> VersionInfo:
        """One MLflow run: params, metrics, trials, plots, model card, evaluation and the model
        (UBJ, signature, input example); registers a version and gives it the challenger alias."""
        import mlflow

        experiment_id = self.experiment_id()
        with self._errors("log the training run"):
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=training.run_name, tags=training.tags
            ):
                mlflow.log_params(training.params)
                mlflow.log_metrics(training.metrics)
                for step, (train_mae, valid_mae) in enumerate(
                    zip(training.curve["train"], training.curve["validation"], strict=True)
                ):
                    mlflow.log_metrics(
                        {"curve_train_mae": train_mae, "curve_validation_mae": valid_mae}, step=step
                    )
                mlflow.log_dict(training.config, CONFIG_FILE)
                for name, table in training.tables.items():
                    if table is not None:
                        mlflow.log_table(table, artifact_file=f"tables/{name}.json")
                for name, figure in training.figures.items():
                    mlflow.log_figure(figure, f"plots/{name}.png")
                mlflow.log_text(training.model_card, "model_card.md")
                if training.reference is not None:
                    with tempfile.TemporaryDirectory() as tmp:
                        path = Path(tmp) / REFERENCE_FILE
                        training.reference.write_parquet(path)
                        mlflow.log_artifact(str(path))
                mlflow.log_dict(training.evaluation, EVALUATION_FILE)
                info = self._log_model(training)
            version = str(info.registered_model_version)
            client = self.client()
            for key, value in training.tags.items():
                client.set_model_version_tag(self.model_name, version, key, value)
            client.update_model_version(
                self.model_name, version, description=version_description(training.model_card)
            )
            client.set_registered_model_alias(self.model_name, CHALLENGER, version)
            return self.version(version)

    def _log_model(self, training: TrainingRecord) -> Any:
        """The forecaster as the run's model, registered: XGBoost as UBJ through MLflow's xgboost
        flavour, the JSON families as a model from code (this package's source, never a pickle)
        with their spec as an artifact. Both carry a signature and an input example."""
        import mlflow
        from mlflow.models import infer_signature

        from mlops_assets.lib import families
        from mlops_assets.lib import forecasting as fc

        forecaster = training.forecaster
        example = training.input_example
        if isinstance(forecaster, families.XGBoostForecaster):
            import mlflow.xgboost
            import xgboost as xgb

            matrix = pl.DataFrame(
                fc.design_matrix(example), schema=list(fc.MODEL_FEATURES), orient="row"
            ).to_pandas()
            return mlflow.xgboost.log_model(
                forecaster.booster,
                name="model",
                model_format="ubj",
                signature=infer_signature(matrix, forecaster.booster.predict(xgb.DMatrix(matrix))),
                input_example=matrix,
                registered_model_name=self.model_name,
                pip_requirements=[f"xgboost=={xgb.__version__}", f"mlflow=={mlflow.__version__}"],
                tags=training.tags,
            )
        import mlflow.pyfunc

        features = families.input_example(example)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "forecaster"
            forecaster.save(folder)
            return mlflow.pyfunc.log_model(
                name="model",
                python_model=str(Path(__file__).with_name("pyfunc_forecaster.py")),
                artifacts={"forecaster": str(folder)},
                signature=infer_signature(features.to_pandas(), forecaster.predict(features)),
                input_example=features.to_pandas(),
                registered_model_name=self.model_name,
                pip_requirements=[f"mlflow=={mlflow.__version__}", f"polars=={pl.__version__}"],
                tags=training.tags,
            )

    def log_backtest(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        series: Mapping[str, Sequence[float]],
        tags: dict[str, str],
        tables: Mapping[str, pl.DataFrame],
        figures: Mapping[str, Any],
        summary: str,
    ) -> str:
        """One MLflow run in the experiment, no model: params, metrics, `series` stepped by index
        (one step per test week), tables as CSV and JSON, plots and a summary. Returns its id."""
        import mlflow

        experiment_id = self.experiment_id()
        with self._errors("log the backtest run"):
            mlflow.set_tracking_uri(self.tracking_uri)
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
                mlflow.log_params(dict(params))
                mlflow.log_metrics(dict(metrics))
                for step, values in enumerate(zip(*series.values(), strict=True), 1):
                    # MLflow rejects NaN in some stores: a week with nothing to score is skipped.
                    stepped = {
                        k: v for k, v in zip(series, values, strict=True) if math.isfinite(v)
                    }
                    mlflow.log_metrics(stepped, step=step)
                for name, table in tables.items():
                    mlflow.log_text(table.write_csv(), f"tables/{name}.csv")
                    # Dates as ISO text: MLflow's table view reads JSON, which has no date type.
                    readable = table.with_columns(pl.col(pl.Date).cast(pl.String))
                    mlflow.log_table(readable.to_pandas(), artifact_file=f"tables/{name}.json")
                for name, figure in figures.items():
                    mlflow.log_figure(figure, f"plots/{name}.png")
                mlflow.log_text(summary, "summary.md")
                return str(run.info.run_id)

    # -- reading ----------------------------------------------------------------------------

    def version(self, version: str) -> VersionInfo:
        client = self.client()
        with self._errors(f"read version {version} of {self.model_name}"):
            mv = client.get_model_version(self.model_name, version)
            return VersionInfo(str(mv.version), mv.run_id, tuple(mv.aliases), dict(mv.tags))

    def by_alias(self, alias: str) -> VersionInfo | None:
        from mlflow.exceptions import MlflowException

        client = self.client()
        with self._errors(f"read alias {alias}"):
            try:
                mv = client.get_model_version_by_alias(self.model_name, alias)
            except MlflowException as error:
                if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                    return None
                raise
            return VersionInfo(str(mv.version), mv.run_id, tuple(mv.aliases), dict(mv.tags))

    def aliases(self) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        client = self.client()
        with self._errors("read the aliases"):
            try:
                aliases = client.get_registered_model(self.model_name).aliases
                return {alias: str(version) for alias, version in aliases.items()}
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return {}
                raise

    @contextmanager
    def _model_files(self, version: str) -> Iterator[Path]:
        """The version's model directory, downloaded into a temporary folder for the block."""
        import mlflow.artifacts

        client = self.client()
        with self._errors(f"download version {version}"), tempfile.TemporaryDirectory() as tmp:
            yield Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=client.get_model_version_download_uri(self.model_name, version),
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                )
            )

    def load_booster(self, version: str) -> xgb.Booster:
        """The version's model from its UBJ file: XGBoost parses it, nothing is unpickled."""
        import xgboost as xgb

        with self._model_files(version) as local:
            files = sorted(local.rglob(MODEL_FILE))
            if not files:
                raise RegistryError(
                    f"version {version} of {self.model_name} has no {MODEL_FILE}; only models "
                    "in XGBoost's own format are loaded"
                )
            return xgb.Booster(model_file=str(files[0]))

    def load_forecaster(self, version: str) -> families.Forecaster:
        """The version's forecaster in its family's safe format: XGBoost's UBJ, or the JSON spec
        of the linear and naive families. Nothing is unpickled."""
        from mlops_assets.lib import families

        tags = self.version(version).tags
        family = tags.get(families.FAMILY_TAG, families.XGBoostForecaster.family)
        if family == families.XGBoostForecaster.family:
            return families.XGBoostForecaster(self.load_booster(version))
        with self._model_files(version) as local:
            # The outermost spec: a blend's members hold their own below it.
            specs = sorted(local.rglob(families.SPEC_FILE), key=lambda p: len(p.parts))
            if not specs:
                raise RegistryError(
                    f"version {version} of {self.model_name} ({family}) has no {families.SPEC_FILE}"
                )
            return families.load(specs[0].parent)

    def run_record(self, run_id: str) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
        """A run's params, metrics and tags."""
        client = self.client()
        with self._errors(f"read run {run_id}"):
            run = client.get_run(run_id)
            return dict(run.data.params), dict(run.data.metrics), dict(run.data.tags)

    def evaluation(self, run_id: str) -> dict[str, Any]:
        return self._json_artifact(run_id, EVALUATION_FILE)

    def training_config(self, run_id: str) -> dict[str, Any]:
        """What a reproduction needs: window, data version, hyperparameters, seed, split."""
        return self._json_artifact(run_id, CONFIG_FILE)

    def reference(self, version: str, cache_dir: Path) -> pl.DataFrame:
        """The drift reference logged with `version`, cached locally (versions never change)."""
        cached = cache_dir / f"{self.model_name}-v{version}-{REFERENCE_FILE}"
        if not cached.exists():
            import mlflow.artifacts

            run_id = self.version(version).run_id
            with self._errors(f"download the reference of version {version}"):
                cache_dir.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
                    local = mlflow.artifacts.download_artifacts(
                        run_id=run_id,
                        artifact_path=REFERENCE_FILE,
                        dst_path=tmp,
                        tracking_uri=self.tracking_uri,
                    )
                    os.replace(local, cached)
        return pl.read_parquet(cached)

    def _json_artifact(self, run_id: str, name: str) -> dict[str, Any]:
        import mlflow.artifacts

        with self._errors(f"read {name} of run {run_id}"):
            mlflow.set_tracking_uri(self.tracking_uri)
            return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{name}"))

    # -- moving aliases ---------------------------------------------------------------------

    def promote(self, version: str, reason: str) -> dict[str, str | None]:
        """champion -> `version`; the replaced champion becomes previous_champion."""
        client = self.client()
        current = self.by_alias(CHAMPION)
        with self._errors(f"promote version {version}"):
            if current and current.version == version:
                return {
                    "champion": version,
                    "previous_champion": self.aliases().get(PREVIOUS_CHAMPION),
                }
            now = datetime.now(UTC).isoformat(timespec="seconds")
            client.set_model_version_tag(self.model_name, version, "promoted_at", now)
            client.set_model_version_tag(self.model_name, version, "promotion_reason", reason)
            if current:
                client.set_model_version_tag(
                    self.model_name, version, PREVIOUS_CHAMPION, current.version
                )
                client.set_registered_model_alias(
                    self.model_name, PREVIOUS_CHAMPION, current.version
                )
            # The champion alias moves last: a failure before this line leaves it untouched.
            client.set_registered_model_alias(self.model_name, CHAMPION, version)
            return {"champion": version, "previous_champion": current.version if current else None}

    def rollback(self) -> dict[str, str | None]:
        """champion -> previous_champion; the alias chain steps one further back."""
        client = self.client()
        current = self.by_alias(CHAMPION)
        previous = self.by_alias(PREVIOUS_CHAMPION)
        if current is None or previous is None:
            raise RegistryError(
                f"{self.model_name} has no {'champion' if current is None else 'previous_champion'}"
                " to roll back from; nothing was changed"
            )
        with self._errors("roll back the champion"):
            now = datetime.now(UTC).isoformat(timespec="seconds")
            client.set_model_version_tag(self.model_name, current.version, "rolled_back_at", now)
            client.set_registered_model_alias(self.model_name, CHAMPION, previous.version)
            older = previous.tags.get(PREVIOUS_CHAMPION)
            if older:
                client.set_registered_model_alias(self.model_name, PREVIOUS_CHAMPION, older)
            else:
                client.delete_registered_model_alias(self.model_name, PREVIOUS_CHAMPION)
            return {
                "champion": previous.version,
                "previous_champion": older,
                "demoted": current.version,
            }


# MLflow's SQL stores hold a version description in VARCHAR(5000) (PostgreSQL refuses longer).
DESCRIPTION_LIMIT = 5000
_TRUNCATED = "\n\n... (shortened; the whole card is model_card.md in the run's artifacts)\n"


def version_description(card: str) -> str:
    """The model card as a version description, cut at a line to fit MLflow's column."""
    if len(card) <= DESCRIPTION_LIMIT:
        return card
    head = card[: DESCRIPTION_LIMIT - len(_TRUNCATED)]
    return head[: head.rfind("\n")] + _TRUNCATED


@dataclass
class TrainingRecord:
    """Everything one training logs to MLflow."""

    run_name: str
    forecaster: families.Forecaster
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: dict[str, str]
    curve: dict[str, list[float]]
    tables: dict[str, Any]  # name -> pandas DataFrame
    figures: dict[str, Any]  # name -> matplotlib Figure
    model_card: str
    evaluation: dict[str, Any]
    config: dict[str, Any]
    reference: pl.DataFrame | None
    input_example: pl.DataFrame  # a few feature rows (FEATURES_SCHEMA)
