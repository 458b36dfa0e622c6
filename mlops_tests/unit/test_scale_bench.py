"""bench/scale.py without the main job: stage mapping, shares, verdicts, the instance and lake
readers on tiny literal inputs, and the process-tree memory sampler."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

# The bench scripts import their helpers as the top-level module `common`, as when run directly.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench import scale


def _step(key: str, seconds: float, job: str = "some_job") -> dict[str, Any]:
    return {"job": job, "step": key, "status": "SUCCESS", "seconds": seconds}


# --- stages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_key", "stage"),
    [
        ("raw_consumption", "raw ingest"),
        ("raw_weather", "raw ingest"),
        ("raw_weather_forecast", "raw ingest"),
        ("staging_models", "dbt staging"),
        ("staging_forecast_models", "dbt staging"),
        ("feature_registry", "feature registry"),
        ("consumption_features", "features"),
        ("online_features", "online store"),
        ("training_set", "training set"),
        ("candidate_model", "training, gate, promotion"),
        ("champion_model", "training, gate, promotion"),
        ("batch_predictions", "batch predictions"),
        ("drift_report", "drift"),
        ("prediction_performance", "performance"),
        ("backtest", scale.OTHER_STEPS),
        ("my_raw_consumption", scale.OTHER_STEPS),  # whole keys only
    ],
)
def test_every_step_of_the_main_job_has_its_stage(step_key: str, stage: str) -> None:
    assert scale.stage_of(step_key) == stage


def test_the_main_jobs_assets_are_all_mapped_to_a_named_stage() -> None:
    from mlops_assets.definitions import defs

    # A step's key is its op's name: the asset's, or the dbt op's for the dbt models.
    steps = {a.node_def.name for a in defs().resolve_asset_graph().assets_defs if a.is_executable}
    assert "staging_models" in steps and "drift_report" in steps
    unmapped = {s for s in steps if scale.stage_of(s) == scale.OTHER_STEPS}
    assert unmapped == {"backtest"}  # on demand only, not in the main job


def test_stage_seconds_sum_the_steps_and_put_the_rest_outside_steps() -> None:
    steps = [
        _step("raw_consumption", 3.0),
        _step("raw_weather", 1.0),
        _step("staging_models", 10.0),
        _step("drift_report", 6.0),
        _step("something_new", 2.0),
    ]
    seconds = scale.stage_seconds(steps, wall_s=30.0)
    assert set(seconds) == set(scale.STAGES)
    assert seconds["raw ingest"] == 4.0
    assert seconds["dbt staging"] == 10.0
    assert seconds["drift"] == 6.0
    assert seconds[scale.OTHER_STEPS] == 2.0
    assert seconds[scale.OUTSIDE] == pytest.approx(8.0)
    assert seconds["training set"] == 0.0
    assert sum(seconds.values()) == pytest.approx(30.0)
    shares = scale.shares(seconds)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["dbt staging"] == pytest.approx(10.0 / 30.0)


def test_outside_steps_is_never_negative() -> None:
    # Step clocks and the wall clock differ a little: steps may add up to more than the wall time.
    assert scale.stage_seconds([_step("raw_weather", 5.0)], wall_s=4.9)[scale.OUTSIDE] == 0.0


def test_rows_label() -> None:
    assert scale.rows_label(10_214_400) == "10.2 M"
    assert scale.rows_label(1_021_440) == "1.02 M"
    assert scale.rows_label(34_560) == "34,560"


def test_share_growth_is_the_large_share_over_the_small_and_none_without_a_small_share() -> None:
    small = {"a": 0.5, "b": 0.25, "c": 0.0}
    large = {"a": 0.25, "b": 0.6, "c": 0.1}
    assert scale.share_growth(small, large) == {"a": 0.5, "b": 2.4, "c": None}


# --- verdicts -------------------------------------------------------------------------------------


def _result(rows: int, wall: float, peak: int, seconds: dict[str, float]) -> dict[str, Any]:
    stage_seconds = dict.fromkeys(scale.STAGES, 0.0) | seconds
    return {
        "raw_rows": rows,
        "wall_s": wall,
        "peak_bytes": peak,
        "stage_seconds": stage_seconds,
        "shares": scale.shares(stage_seconds),
        "rows_per_s": rows / wall,
    }


def _by_label(verdicts: list[scale.Verdict]) -> dict[str, scale.Verdict]:
    return {v.label.split(" at ")[0].split(":")[-1].strip(): v for v in verdicts}


def test_every_target_met() -> None:
    small = _result(1_021_440, 100.0, 1_300_000_000, {"training set": 50.0, scale.OUTSIDE: 50.0})
    large = _result(10_214_400, 590.0, 5_900_000_000, {"training set": 440, scale.OUTSIDE: 150.0})
    verdicts = scale.verdicts(small, large)
    assert all(v.met for v in verdicts), [(v.label, v.value) for v in verdicts]
    labels = [v.label for v in verdicts]
    assert labels == [
        "time at 10,214,400 raw rows",
        "peak RSS at 10,214,400 raw rows (GB)",
        "time ratio 10,214,400 / 1,021,440 raw rows",
        "share growth: training set",
        f"share growth: {scale.OUTSIDE}",
    ]  # stages neither size has get no verdict
    by = _by_label(verdicts)
    assert by["time ratio 10,214,400 / 1,021,440 raw rows"].value == pytest.approx(5.9)
    assert by["peak RSS"].value == pytest.approx(5.9)
    assert by["training set"].value == pytest.approx((440 / 590) / 0.5)


def test_each_target_missed() -> None:
    # The figures before this work: 281 s at 1 M, 1,398 s and 5.8 GB at 10 M.
    small = _result(1_021_440, 281.0, 1_300_000_000, {"drift": 28.1, scale.OUTSIDE: 252.9})
    large = _result(10_214_400, 3200.0, 6_100_000_000, {"drift": 800.0, scale.OUTSIDE: 2400.0})
    by = _by_label(scale.verdicts(small, large))
    assert not by["time"].met and by["time"].value == 3200.0
    assert not by["peak RSS"].met  # 6.1e9 bytes is more than 6 GB
    ratio = by["time ratio 10,214,400 / 1,021,440 raw rows"]
    assert not ratio.met and ratio.value == pytest.approx(3200 / 281)
    assert not by["drift"].met and by["drift"].value == pytest.approx(2.5)
    assert by[scale.OUTSIDE].met
    assert by["drift"].text == "NOT MET" and by[scale.OUTSIDE].text == "MET"


def test_a_stage_only_the_large_size_has_is_not_met() -> None:
    small = _result(100, 10.0, 1, {scale.OUTSIDE: 10.0})
    large = _result(1000, 20.0, 1, {scale.OTHER_STEPS: 1.0, scale.OUTSIDE: 19.0})
    growth = _by_label(scale.verdicts(small, large))[scale.OTHER_STEPS]
    assert growth.value is None and not growth.met


def test_reports_render_both_sizes_and_the_verdicts() -> None:
    def full(rows: int, wall: float, types: int) -> dict[str, Any]:
        steps = [_step("raw_consumption", wall / 4), _step("drift_report", wall / 4)]
        seconds = scale.stage_seconds(steps, wall)
        return _result(rows, wall, 10**9, seconds) | {
            "consumer_types": types,
            "raw_days": 36,
            "segments": rows // (36 * 24),
            "job_s": wall - 1,
            "steps_s": wall / 2,
            "steps": steps,
            "runs": [{"job": "some_job"}],
            "peak_tree_bytes": 10**9,
            "peak_single_bytes": 5 * 10**8,
            "peak_processes": 3,
        }

    small, large = full(6_912, 100.0, 4), full(34_560, 300.0, 20)
    text = scale.size_report(small)
    assert "4 consumer types: 6,912 raw rows (36 days x 24 h x 8 segments)" in text
    assert "raw ingest" in text and "drift" in text and "69 raw rows per second" in text
    text = scale.comparison(small, large)
    assert "Scaling: 34,560 raw rows against 6,912" in text
    assert "Raw rows x5; time x3" in text
    assert "the largest size here has 34,560" in text
    assert "Verdict: all targets MET." in text


def test_a_saved_json_prints_the_same_report_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(rows: int, wall: float, types: int) -> dict[str, Any]:
        steps = [_step("staging_models", wall / 2)]
        return _result(rows, wall, 2 * 10**9, scale.stage_seconds(steps, wall)) | {
            "consumer_types": types,
            "raw_days": 56,
            "segments": rows // (56 * 24),
            "job_s": wall,
            "steps_s": wall / 2,
            "steps": steps,
            "runs": [],
            "peak_tree_bytes": 2 * 10**9,
            "peak_single_bytes": 10**9,
            "peak_processes": 4,
        }

    saved = {
        "header": ["Command: python bench/scale.py"],
        "sizes": [full(1_021_440, 100.0, 380), full(10_214_400, 1200.0, 3800)],
        "verdicts": None,
        "total_s": 1300.0,
    }
    path = tmp_path / "scale.json"
    path.write_text(json.dumps(saved))
    assert scale.main(["--from-json", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Command: python bench/scale.py\n")
    assert "3800 consumer types: 10,214,400 raw rows (56 days x 24 h x 7,600 segments)" in out
    assert "Scaling: 10.2 M raw rows against 1.02 M" in out
    assert "Verdict: NOT MET: time at 10,214,400 raw rows; time ratio" in out
    assert out.rstrip().endswith("Total: 1300 s")


# --- the job's environment ------------------------------------------------------------------------


def test_the_child_runs_this_trees_code_with_defaults_for_every_other_setting(
    tmp_path: Path,
) -> None:
    base = {"PATH": "/usr/bin", "PYTHONPATH": "/elsewhere", "MLOPS_SOURCE": "landing", "HOME": "/h"}
    env = scale.child_env(base, tmp_path / "data", tmp_path / "home", 380)
    assert env["MLOPS_DATA_DIR"] == str(tmp_path / "data")
    assert env["DAGSTER_HOME"] == str(tmp_path / "home")
    assert env["MLOPS_CONSUMER_TYPES"] == "380"
    assert "MLOPS_SOURCE" not in env
    assert env["PYTHONPATH"].split(":") == [str(scale.ROOT), "/elsewhere"]
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["HOME"] == "/h"
    assert (scale.ROOT / "mlops_assets" / "cli.py").exists()


def test_the_fewest_days_are_what_the_quickstart_accepts() -> None:
    from mlops_assets.pipeline import Plan

    days = scale.minimum_days()
    end = date(2025, 3, 31)
    Plan(date.fromordinal(end.toordinal() - days + 1), end)
    with pytest.raises(ValueError, match="at least"):
        Plan(date.fromordinal(end.toordinal() - days + 2), end)


# --- readers: the lake, the instance, the memory of a process tree --------------------------------


def test_read_lake_counts_raw_rows_days_and_segments(tmp_path: Path) -> None:
    for day in ("2025-01-01", "2025-01-02"):
        folder = tmp_path / "lake" / "raw_consumption" / f"day={day}"
        folder.mkdir(parents=True)
        pl.DataFrame(
            {
                "PriceArea": ["DK1"] * 24 + ["DK2"] * 24 + ["DK1"] * 24,
                "ConsumerType_DE35": [111] * 48 + [112] * 24,
                "TotalCon": [1.0] * 72,
            }
        ).write_parquet(folder / "data.parquet")
    measured = scale.Measured(4, 2, "2025-01-02", 0, 1.0, 0, 0, 0)
    scale.read_lake(measured, tmp_path)
    assert (measured.raw_rows, measured.raw_days, measured.segments) == (144, 2, 3)


def test_read_instance_gives_every_run_and_step_with_its_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dg.asset
    def raw_consumption() -> None:
        time.sleep(0.2)

    @dg.asset(deps=[raw_consumption])
    def drift_report() -> None:
        pass

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([raw_consumption], instance=instance).success
        assert dg.materialize([raw_consumption, drift_report], instance=instance).success
    monkeypatch.setenv("DAGSTER_HOME", "/somewhere/else")
    measured = scale.Measured(4, 36, "2025-01-02", 0, 10.0, 0, 0, 0)
    measured.timeline = [(0.0, 5 * 2**30), (time.time(), 7), (float("inf"), 6 * 2**30)]
    scale.read_instance(measured, home)
    assert len(measured.runs) == 2 and all(r["status"] == "SUCCESS" for r in measured.runs)
    assert [s["step"] for s in measured.steps] == [
        "raw_consumption",
        "raw_consumption",
        "drift_report",
    ]  # oldest run first
    assert measured.steps[0]["seconds"] >= 0.2
    # Each step's peak is the largest sample taken while it ran: none of these samples did.
    assert all(s["peak_bytes"] == 0 for s in measured.steps)
    assert measured.job_s >= sum(r["seconds"] for r in measured.runs)  # one run after the other
    assert sum(r["seconds"] for r in measured.runs) >= sum(s["seconds"] for s in measured.steps)
    assert scale.os.environ["DAGSTER_HOME"] == "/somewhere/else"  # put back


def test_the_sampler_sums_the_whole_process_tree() -> None:
    # A parent that holds 60 MiB starts a child that holds 120 MiB: the tree holds both at once.
    # Filled, not zeroed: calloc'd pages are not resident until written.
    child = "b = b'x' * (120 * 2**20); import time; time.sleep(3)"
    parent = (
        "import subprocess, sys; a = b'x' * (60 * 2**20); "
        f"subprocess.run([sys.executable, '-c', {child!r}])"
    )
    process = subprocess.Popen([sys.executable, "-c", parent])
    sampler = scale.TreeSampler(process.pid, interval=0.05)
    sampler.start()
    process.wait()
    sampler.stop()
    assert sampler.peak_processes == 2
    assert sampler.peak_bytes >= 180 * 2**20


def test_a_steps_peak_is_the_largest_sample_while_it_ran() -> None:
    timeline = [(0.0, 100), (1.0, 300), (2.0, 200), (3.0, 900)]
    assert scale._peak_between(timeline, 0.5, 2.5) == 300
    assert scale._peak_between(timeline, 1.0, 1.0) == 300  # both ends included
    assert scale._peak_between(timeline, 3.5, 4.0) == 0  # no sample: unknown
    assert scale._peak_between(timeline, None, 2.0) == 0
    steps = [
        {**_step("raw_consumption", 1.0), "peak_bytes": 5},
        {**_step("raw_weather", 1.0), "peak_bytes": 9},
        _step("drift_report", 1.0),  # a saved run from before peaks were recorded
    ]
    peaks = scale.stage_peaks(steps)
    assert peaks["raw ingest"] == 9 and peaks["drift"] == 0 and set(peaks) == set(scale.STAGES)
