"""The loop survives a crash: a training_job run launched the way `dagster dev` launches it (a
gRPC code server, the default run launcher) is SIGKILLed together with its code server, which
leaves it STARTED for good; the next drift report still retrains, and the dead run ends FAILURE."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.defs.automation.sensors import build_sensors
from mlops_assets.instance import prepare_home
from mlops_assets.settings import Settings

pytestmark = pytest.mark.slow

DAGSTER = str(Path(sys.executable).parent / "dagster")
DRIFT = dg.AssetKey("drift_report")
# training_job as the sensors see it: a run of that name whose step blocks until it is killed
# (the real job would spend its first seconds importing Feast and MLflow, and could finish).
STAND_IN = """
import time

import dagster as dg


@dg.op
def train() -> None:
    time.sleep(600)


@dg.job(name="training_job", executor_def=dg.in_process_executor)
def training_job() -> None:
    train()
"""


@pytest.fixture
def instance(mlops_env: Settings) -> Iterator[dg.DagsterInstance]:
    """The embedded instance (our dagster.yaml template, run monitoring included) in a temporary
    DAGSTER_HOME; runs launch at once, as the queued coordinator's daemon would launch them."""
    home = prepare_home(Path(os.environ["DAGSTER_HOME"]))
    with (home / "dagster.yaml").open("a") as config:
        config.write(
            "run_coordinator:\n"
            "  module: dagster._core.run_coordinator\n"
            "  class: DefaultRunCoordinator\n"
        )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture
def code_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`dagster api grpc` serving the stand-in, in a session of its own so it can be killed with
    the run workers it spawns."""
    (tmp_path / "stand_in.py").write_text(STAND_IN)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "code_server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [DAGSTER, *f"api grpc -f stand_in.py -h 127.0.0.1 -p {port}".split()],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "Started Dagster code server" in log.read_text(), "the code server", log)
        yield server, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_for(done: Callable[[], object], what: str, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready after {seconds:.0f} s:\n{log.read_text()}")
        time.sleep(0.2)


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int:
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records:
        event = record.event_log_entry.dagster_event
        if event and "pid" in event.engine_event_data.metadata:
            return int(str(event.engine_event_data.metadata["pid"].value))
    raise AssertionError(f"run {run_id} reported no worker pid")


def drift_report(instance: dg.DagsterInstance, day: str, share: float) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=DRIFT,
            partition=day,
            metadata={"drift_share": share, "drifted_columns": ["lag_24h", "prediction"]},
        )
    )


def test_a_killed_training_run_no_longer_blocks_retraining(
    mlops_env: Settings,
    instance: dg.DagsterInstance,
    code_server: tuple[subprocess.Popen[bytes], int],
    tmp_path: Path,
) -> None:
    server, port = code_server
    sensor = {s.name: s for s in build_sensors(Settings.from_env())}["drift_retraining_sensor"]

    def tick(cursor: str | None) -> dg.SensorResult:
        return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))

    drift_report(instance, "2025-03-01", 0.1)
    cursor = tick(None).cursor

    launch = subprocess.run(
        [DAGSTER, *f"job launch -j training_job --grpc-host 127.0.0.1 --grpc-port {port}".split()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert launch.returncode == 0, launch.stdout + launch.stderr
    (run_id,) = [r.dagster_run.run_id for r in instance.get_run_records()]
    step_started = dg.DagsterEventType.STEP_START
    wait_for(
        lambda: instance.get_records_for_run(run_id, of_type=step_started).records,
        "the training step",
        tmp_path / "code_server.log",
    )

    # While the worker lives, drift waits for the run in flight and the run is left alone.
    drift_report(instance, "2025-03-02", 0.9)
    waiting = tick(cursor)
    assert not waiting.run_requests
    assert "in flight" in (waiting.skip_message or "")
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

    # The crash: the code server and the run worker die at once (an OOM kill, `dagster dev`
    # killed, a reboot), so nothing is left to report the run's end.
    pid = worker_pid(instance, run_id)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

    drift_report(instance, "2025-03-03", 0.8)
    recovered = tick(cursor)

    (request,) = recovered.run_requests
    assert request.tags["trigger"] == "drift"
    assert request.tags["drift_partition"] == "2025-03-03"
    dead = instance.get_run_by_id(run_id)
    assert dead.status == dg.DagsterRunStatus.FAILURE
    (failure,) = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    assert f"its run worker (pid {pid}) is gone" in (failure.event_log_entry.message or "")
    # The next tick neither repeats the request nor trips over the dead run again.
    assert not tick(recovered.cursor).run_requests
