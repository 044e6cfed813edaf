"""A researcher's own trainer as a sweep's command: designs, the metrics contract, failures,
kill -9 and resume, Ray and submitit's local executor, all on `trainers/toy_trainer.py`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.errors import ScalinglabError
from scalinglab.measurements import read_measurements
from scalinglab.sweep import command, design, plan
from scalinglab.sweep.driver import run_sweep
from scalinglab.sweep.store import Store, pid_alive
from scalinglab.sweep.tasks import Task
from test_sweep_crash import assert_consistent

TOY = Path(__file__).parent / "trainers" / "toy_trainer.py"
CLI = [sys.executable, "-c", "from scalinglab.cli import main; main()"]
COMMAND = (f"{sys.executable} {TOY} --params {{params}} --tokens {{tokens}} --seed {{seed}} "
           "--lr {lr} --width-mult {width_mult} --out {out} --resume {resume}")
# 8 runs of about half a second each: 2 sizes x 2 token budgets x 2 learning rates.
TOY_DESIGN = f"""
kind = "grid"
families = ["toy"]
params = [1e4, 1e5]
tokens = [1e6, 4e6]
trainer = {{ command = "{COMMAND}" }}
[hparams]
lr = [1e-3, 3e-3]
width_mult = 2
"""
runner = CliRunner()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def sweep_rows(store: Path, sweep: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs by hash, measurement rows by run hash and row) of one sweep."""
    with Store(store) as db:
        runs = db.runs(sweep).set_index("hash").sort_index()
        rows = pd.read_sql_query(
            "SELECT run_hash, row, tokens, loss, final, extra_json FROM measurements "
            "ORDER BY run_hash, row", db.db)
    return runs, rows


def assert_same_results(store: Path, reference: Path, sweep: str = "toy") -> None:
    """Every run done once, every row once, the losses of the uninterrupted reference."""
    runs, rows = sweep_rows(store, sweep)
    ref_runs, ref_rows = sweep_rows(reference, "toy")
    assert list(runs.index) == list(ref_runs.index)
    assert (runs["status"] == "done").all()
    assert not rows.duplicated(["run_hash", "row"]).any()
    assert not rows.duplicated(["run_hash", "tokens"]).any()
    pd.testing.assert_frame_equal(rows, ref_rows)


@pytest.fixture(scope="module")
def toy_design(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("design"), "toy", TOY_DESIGN)


@pytest.fixture(scope="module")
def reference(toy_design: Path, tmp_path_factory) -> Path:
    """The store of one uninterrupted command sweep on the local executor."""
    store = tmp_path_factory.mktemp("reference") / "ref.db"
    done = subprocess.run([*CLI, "sweep", "run", str(toy_design), "--store", str(store),
                           "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return store


# --- designs ---------------------------------------------------------------------------------


def test_hparam_lists_are_crossed_named_and_hashed_with_sizes_as_given() -> None:
    toy = design.parse_design({**_toml(TOY_DESIGN), "name": "toy"})
    plans = plan.plan_sweep(toy, 2)
    assert len(plans) == 8 and len({p.hash for p in plans}) == 8
    assert {p.config["params"] for p in plans} == {1e4, 1e5}  # no snapping to the ladder
    assert {p.params_nonembedding for p in plans} == {10000, 100000}
    first = plans[0]
    assert first.flops == 6 * first.config["params"] * first.config["tokens"]
    assert first.name == "toy-N1e04-D1e06-lr0.001-s0"  # the listed hparam, not width_mult
    assert first.config["hparams"] == {"lr": 1e-3, "width_mult": 2}
    changed = design.parse_design({**_toml(TOY_DESIGN.replace("--seed", "--seed ")),
                                   "name": "toy"})
    assert plan.plan_sweep(changed, 2)[0].hash != first.hash  # a changed command: a new run
    shown = command.trainer_command(first.config, "/runs/x").render(resume=True)
    assert shown[shown.index("--params") + 1] == "10000" and shown[-1] == "1"
    assert shown[shown.index("--out") + 1] == "/runs/x"


def test_isoflop_and_scan_kinds_run_a_trainer_command_too() -> None:
    iso = design.parse_design({
        "name": "iso", "kind": "isoflop", "budgets": [1e12, 1e13], "sizes": 3,
        "trainer": {"command": "train --n {params} --d {tokens} --c {budget} --out {out}"}})
    runs = iso.runs()
    assert len(runs) == 6 and all(r.config["budget"] in (1e12, 1e13) for r in runs)
    assert all(abs(6 * r.params * r.config["tokens"] / r.budget - 1) < 5e-3 for r in runs)
    scan = design.parse_design({
        "name": "scan", "kind": "scan", "hyperparameter": "width", "values": [1, 2, 4],
        "params": 1e4, "tokens": 1e6, "families": ["mamba"],
        "trainer": {"command": "train --width {width} --opt {opt} --out {out}"},
        "hparams": {"opt": ["adam", "sgd"]}})
    names = [r.name for r in scan.runs()]
    assert len(names) == 6 and "mamba-N1e04-D1e06-width1-optadam-s0" in names


def test_the_lab_engines_hashes_are_unchanged() -> None:
    """Stores written before trainer commands existed must keep resuming: the hashes of
    tests/tiny_sweeps.TINY as the previous release planned them."""
    from tiny_sweeps import TINY

    tiny = design.parse_design({**_toml(TINY), "name": "tiny"})
    assert [p.hash[:16] for p in plan.plan_sweep(tiny, 2)] == [
        "1c6e777436a1ce42", "d4a9db64382b91a1", "d4181406c39b7f7f", "d811bda73cbe3cd2"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("--lr {lr}", "--lr {lr} --depth {depth}"),
     "trainer.command uses {depth}, which the design does not define (defined: params, tokens, "
     "seed, family, out, resume, lr, width_mult)"),
    (lambda t: t.replace('kind = "grid"', 'kind = "curves"').replace(
        "tokens = [1e6, 4e6]", "tokens = 1e6"),
     "kind 'curves' needs the cooldown branches of the lab's own engine; a trainer command runs "
     "with kind grid, isoflop or scan"),
    (lambda t: t + "[overrides]\nn_ctx = 32\n",
     "[overrides] sets the lab engine's RunConfig, which a trainer command does not read; put "
     "your command's settings in [hparams]"),
    (lambda t: t.replace("width_mult = 2", "width_mult = 2\ntokens = 3"),
     "hparams.tokens: 'tokens' is the lab's"),
    (lambda t: t.replace("trainer = ", "# ").replace("families = [\"toy\"]", ""),
     "[hparams] are the placeholders of a trainer command"),
    (lambda t: t.replace(" --out {out}", ""), "trainer.command does not use {out}"),
    (lambda t: t.replace('families = ["toy"]', 'families = ["toy"]\ncorpus = "digits"'),
     "corpus and corpora name the lab engine's data"),
])
def test_bad_trainer_designs_are_one_line_exit_2_and_write_no_store(
        tmp_path: Path, edit, message: str) -> None:
    path = write(tmp_path, "bad", edit(TOY_DESIGN))
    result = runner.invoke(app, ["sweep", "run", str(path), "--store", str(tmp_path / "x.db")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "x-runs").exists()


def test_a_command_design_and_a_lab_design_cannot_share_a_launch(tmp_path: Path) -> None:
    from scalinglab.sweep.driver import run_sweeps

    toy = design.parse_design({**_toml(TOY_DESIGN), "name": "toy"})
    with pytest.raises(ScalinglabError, match="cannot share one launch"):
        run_sweeps([toy, design.preset("cpu-tiny")], tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_sweep_plan_lists_a_command_sweep_without_probing(toy_design: Path) -> None:
    result = runner.invoke(app, ["sweep", "plan", str(toy_design), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["runs"]
    assert len(rows) == 8 and rows[0]["params_nonembedding"] in (10000, 100000)
    assert "a trainer command is not probed" in result.stderr


# --- the metrics contract --------------------------------------------------------------------


def test_metrics_after_a_resume_replace_the_rows_from_the_repeated_token_on(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [{"tokens": t, "loss": 4 - t / 100} for t in (100, 200, 300)]  # launch 1
    lines += [{"tokens": t, "loss": 9.0} for t in (200, 300, 400)]  # launch 2, from 200
    path.write_text("".join(json.dumps(row) + "\n" for row in lines))
    rows = command.read_metrics(path, launches=[0, 3])
    assert [(r.tokens, r.values["loss"]) for r in rows] == [
        (100, 3.0), (200, 9.0), (300, 9.0), (400, 9.0)]
    with pytest.raises(ScalinglabError, match=r"metrics.jsonl line 4: tokens 200 after 300; "
                                              "tokens must increase within a launch"):
        command.read_metrics(path, launches=[0])  # one launch: going back is an error


@pytest.mark.parametrize(("text", "message"), [
    ('{"tokens": 10, "loss": 3}\n{"tokens": 20}\n', "line 2: no 'loss'"),
    ('{"tokens": 10, "loss": "low"}\n', "line 1: 'loss' must be a number, got 'low'"),
    ('{"tokens": 10, "loss": 3}\n[1, 2]\n', "line 2: not a JSON object"),
    ('{"tokens": 10, "loss": 3, "final": 1}\n', "line 1: 'final' must be true or false"),
    ("\n", "no evaluations"),
])
def test_a_metrics_file_that_breaks_the_contract_names_the_file_and_line(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(text)
    with pytest.raises(ScalinglabError, match=message) as error:
        command.read_metrics(path, launches=[0])
    assert str(error.value).startswith(str(path))


def test_measurements_take_the_files_marks_params_and_flops_else_the_designs(tmp_path) -> None:
    config = {"trainer": "command", "family": "toy", "seed": 3, "params": 1e4, "tokens": 200.0,
              "hparams": {"lr": 0.01, "opt": "adam"}, "budget": None}
    task = Task("h", "toy-run", config, 1, str(tmp_path))
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"tokens": 100, "loss": 3.5, "step": 1, "acc_arith": 0.25}\n'
                    '{"tokens": 200, "loss": 3.0, "params": 12000, "flops": 5e9, "lr": 0.01}\n')
    table = command.measurements(command.read_metrics(path, [0]), task, path)
    assert list(table.columns[:11]) == ["run", "family", "params", "params_nonembedding",
                                        "tokens", "flops", "loss", "seed", "lr", "final", "opt"]
    assert table["params"].tolist() == [1e4, 12000] and table["flops"].tolist() == [6e6, 5e9]
    assert table["final"].tolist() == [False, True] and table["opt"].tolist() == ["adam"] * 2
    assert table["acc_arith"].iloc[0] == 0.25 and table["seed"].tolist() == [3, 3]
    path.write_text('{"tokens": 100, "loss": 3.5, "lr": 0.02}\n')
    with pytest.raises(ScalinglabError, match="line 1: 'lr' is 0.02 but the design's is 0.01"):
        command.measurements(command.read_metrics(path, [0]), task, path)


# --- sweeps on each executor -----------------------------------------------------------------


@pytest.mark.slow
def test_a_command_sweep_runs_locally_and_exports_its_measurements_as_given(
        reference: Path, tmp_path: Path) -> None:
    runs, rows = sweep_rows(reference, "toy")
    assert len(runs) == 8 and (runs["status"] == "done").all() and len(rows) == 64
    out = tmp_path / "toy.csv"
    exported = runner.invoke(app, ["export", "--sweep", "toy", "--store", str(reference),
                                   "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    table, notes = read_measurements(out)
    assert len(table) == 64 and table["run"].nunique() == 8 and not notes
    assert set(table["params"]) == {1e4, 1e5} and set(table["params_nonembedding"]) == {1e4, 1e5}
    assert set(table["lr"]) == {1e-3, 3e-3} and set(pd.read_csv(out)["width_mult"]) == {2}
    assert (table["flops"] == 6 * table["params"] * table["tokens"]).all()
    assert table["final"].astype(bool).sum() == 8
    assert {"acc_toy", "step"} <= set(pd.read_csv(out).columns)
    status = runner.invoke(app, ["status", "--sweep", "toy", "--store", str(reference)])
    assert status.exit_code == 0 and status.stdout.count("done") == 8


def _trainers_of(folder: Path) -> list[int]:
    """Live toy trainers writing under `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if entry.name.isdigit() and b"toy_trainer" in cmdline and str(folder).encode() in cmdline:
            found.append(int(entry.name))
    return [pid for pid in found if pid_alive(pid)]


def _done(store: Path) -> int:
    if not store.exists():
        return 0
    with Store(store) as db:
        runs = db.runs()
    return int((runs["status"] == "done").sum())


def _mid_sweep(store: Path, folder: Path, after: int) -> int:
    """Wait until more than `after` runs are done, not all, and trainers are running."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = _done(store)
        if after < done < 8 and _trainers_of(folder):
            return done
        time.sleep(0.05)
    raise AssertionError(f"no moment mid-sweep after {after} runs done")


def _assert_trainers_gone(folder: Path) -> None:
    deadline = time.monotonic() + 5
    while _trainers_of(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _trainers_of(folder), "a trainer outlived its sweep"


@pytest.mark.slow
def test_stop_and_kill_9_mid_sweep_end_the_trainers_and_the_resumed_sweep_matches_the_reference(
        toy_design: Path, reference: Path, tmp_path: Path) -> None:
    store = tmp_path / "killed.db"
    args = [*CLI, "sweep", "run", str(toy_design), "--store", str(store), "--workers", "2"]
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = _mid_sweep(store, tmp_path, after=0)  # Ctrl-C: trainers get SIGTERM, runs pending
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr
    _assert_trainers_gone(tmp_path)
    with Store(store) as db:
        assert not db.runs()["status"].eq("running").any()

    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _mid_sweep(store, tmp_path, after=done)
    driver.send_signal(signal.SIGKILL)  # the driver only, as tests/test_sweep_crash.py does
    driver.wait()
    _assert_trainers_gone(tmp_path)
    assert_consistent(store)

    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "interrupted before resume" in again.stderr
    assert_consistent(store)
    assert_same_results(store, reference)
    launches = [json.loads(p.read_text()) for p in (tmp_path / "killed-runs").glob(
        "*/launches.json")]
    assert any(len(history) >= 2 and history[-1]["resume"] == 1 for history in launches)


@pytest.mark.slow
def test_a_failing_command_is_failed_with_its_stderr_and_the_others_finish(tmp_path) -> None:
    text = TOY_DESIGN.replace("lr = [1e-3, 3e-3]", "lr = [3e-3, 0.3]").replace(
        "params = [1e4, 1e5]", "params = [1e4]").replace(
        "--resume {resume}", "--resume {resume} --backwards {backwards}")
    text += "backwards = [0, 1]\n"
    path = write(tmp_path, "toy", text)
    store = tmp_path / "lab.db"
    result = runner.invoke(app, ["sweep", "run", str(path), "--store", str(store),
                                 "--workers", "2"])
    assert result.exit_code == 1, result.output
    with Store(store) as db:
        runs = db.runs("toy").set_index("name")
    assert runs["status"].value_counts().to_dict() == {"failed": 6, "done": 2}
    diverged = runs.loc["toy-N1e04-D1e06-lr0.3-backwards0-s0", "error"]
    assert "exited with code 1" in diverged and diverged.strip().endswith(
        "toy_trainer: lr 0.3 is above 0.1: the loss would diverge")
    backwards = runs.loc["toy-N1e04-D1e06-lr0.003-backwards1-s0", "error"]
    assert "metrics.jsonl line 5: tokens 125000 after 500000" in backwards
    assert backwards.startswith(str(tmp_path / "lab-runs"))
    status = runner.invoke(app, ["status", "--sweep", "toy", "--store", str(store)])
    assert "failed toy-N1e04-D4e06-lr0.3-backwards0-s0: toy_trainer: lr 0.3 is above 0.1" \
        in " ".join(status.stdout.split())


@pytest.mark.slow
def test_a_command_sweep_through_submitits_local_executor_matches_the_reference(
        toy_design: Path, reference: Path, tmp_path: Path) -> None:
    toy = design.load_design(toy_design)
    outcome = run_sweep(toy, tmp_path / "s.db", executor="submitit-local", workers=2,
                        slurm={"time": 5})
    assert outcome.counts == {"done": 8} and not outcome.failures
    assert_same_results(tmp_path / "s.db", reference)
    with Store(tmp_path / "s.db") as db:
        assert db.runs()["host"].notna().all()
    assert list((tmp_path / "s-runs" / "submitit").glob("*/*_log.out"))


def test_submitit_options_are_checked_before_anything_is_written(tmp_path, monkeypatch):
    import importlib.util

    path = write(tmp_path, "toy", TOY_DESIGN)
    store = ["--store", str(tmp_path / "x.db")]
    wrong = runner.invoke(app, ["sweep", "run", str(path), *store, "--slurm-cpus", "4"])
    assert wrong.exit_code == 2 and "--slurm-* options apply to --executor slurm" in wrong.stderr
    zero = runner.invoke(app, ["sweep", "run", str(path), *store, "--executor", "slurm",
                               "--slurm-cpus", "0"])
    assert zero.exit_code == 2 and "--slurm-cpus must be at least 1" \
        in zero.stderr
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "submitit" else real(name, *a))
    missing = runner.invoke(app, ["sweep", "run", str(path), *store, "--executor", "slurm"])
    assert missing.exit_code == 2
    assert "submitit is not installed: pip install 'scalinglab[slurm]'" in missing.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_command_sweep_on_ray_matches_the_reference(toy_design, reference, tmp_path):
    ray = pytest.importorskip("ray")
    from scalinglab.sweep.command import command_task
    from scalinglab.sweep.executors import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcome = run_sweep(design.load_design(toy_design), tmp_path / "ray.db",
                            executor=RayExecutor(runner=command_task))
    finally:
        ray.shutdown()
    assert outcome.counts == {"done": 8} and not outcome.failures
    assert_same_results(tmp_path / "ray.db", reference)


def _toml(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
@pytest.mark.parametrize("executor", ["ray", "submitit-local"])
def test_kill_9_mid_sweep_on_ray_and_submitit_loses_and_duplicates_nothing(
        executor: str, toy_design: Path, reference: Path, tmp_path: Path) -> None:
    """The local executor's kill -9 test above, through the other two executors."""
    pytest.importorskip("ray" if executor == "ray" else "submitit")
    store = tmp_path / "killed.db"
    args = [*CLI, "sweep", "run", str(toy_design), "--store", str(store), "--workers", "2",
            "--executor", executor]
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _mid_sweep(store, tmp_path, after=0)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert_consistent(store)
    assert_same_results(store, reference)
    _assert_trainers_gone(tmp_path)
