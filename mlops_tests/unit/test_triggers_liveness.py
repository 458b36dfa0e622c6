"""Whether a STARTED training run can still finish (`lib/triggers.py`): the rule on its own, and
the process probe against real processes."""

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from mlops_assets.lib import triggers

HOUR = 3600.0


def test_a_worker_this_host_sees_is_judged_by_its_process_alone() -> None:
    gone = triggers.dead_run_reason(4242, False, silent_s=5.0, stale_after_s=HOUR)
    assert gone == "its run worker (pid 4242) is gone"
    # A long quiet step of a live worker is never cut short, whatever the timeout says.
    assert triggers.dead_run_reason(4242, True, silent_s=10 * HOUR, stale_after_s=HOUR) is None


def test_a_worker_out_of_sight_is_dead_after_the_stale_timeout() -> None:
    assert triggers.dead_run_reason(None, None, silent_s=HOUR - 1, stale_after_s=HOUR) is None
    reason = triggers.dead_run_reason(None, None, silent_s=HOUR, stale_after_s=HOUR)
    assert reason is not None and "MLOPS_TRAINING_STALE_AFTER_S is 3600 s" in reason
    # A pid on another host (a pod) is unknown too: only the silence counts.
    assert triggers.dead_run_reason(17, None, silent_s=2 * HOUR, stale_after_s=HOUR) is not None
    # 0 switches the timeout off.
    assert triggers.dead_run_reason(None, None, silent_s=99 * HOUR, stale_after_s=0) is None


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process probe")
def test_a_live_worker_is_running_and_a_killed_one_is_not(
    sleeper: subprocess.Popen[bytes],
) -> None:
    reported_at = time.time()
    assert triggers.process_running(sleeper.pid, reported_at) is True

    sleeper.kill()
    sleeper.wait()  # reaped: the pid no longer exists
    assert triggers.process_running(sleeper.pid, reported_at) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombies are read from /proc")
def test_a_killed_worker_nobody_reaped_is_not_running(sleeper: subprocess.Popen[bytes]) -> None:
    reported_at = time.time()
    sleeper.kill()
    deadline = time.monotonic() + 10
    while "Z" not in _state(sleeper.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(sleeper.pid) == "Z"  # still in the process table, as under a container's init
    assert triggers.process_running(sleeper.pid, reported_at) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="start times are read from /proc")
def test_a_pid_taken_over_by_a_later_process_is_not_the_worker(
    sleeper: subprocess.Popen[bytes],
) -> None:
    # The worker reported this pid an hour before the process now holding it started.
    assert triggers.process_running(sleeper.pid, time.time() - HOUR) is False


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]
