"""Checkpoints: what they cost and what a kill -9 loses, with the former and the current policy.

    .venv/bin/python benchmarks/checkpoint_loss.py            # 10 kills per policy (~10 min)
    .venv/bin/python benchmarks/checkpoint_loss.py --kills 3  # a quicker look

Policies: `before` is the former fixed clock (a checkpoint every 300 s); `after` is
`train.CheckpointPolicy()` (about 2% of the run's expected time, saving at most 2% of it).
For each policy, one run of the same config (N = 1e5, 3e6 tokens on stdlib, 1 thread):

- overhead: one uninterrupted run with `out_dir`; the seconds spent saving checkpoints over the
  training seconds (`checkpoint_seconds` / `seconds` of the run's info);
- work lost: `--kills` runs killed with SIGKILL at a moment drawn uniformly over the run's
  training time (measured by the uninterrupted run); lost = kill time minus the later of the
  last checkpoint's write and the start of training (a run killed before its first checkpoint
  loses everything it trained). Median and maximum over the kills, in seconds and as a share
  of the run.

Results are printed as a Markdown table (docs/reliability.md keeps the numbers and command).
Timings need a quiet machine; other processes on the cores stretch every interval.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"params": 1e5, "tokens": 3e6, "threads": 1, "seed": 0}
CHILD = """
import json, sys, time
from pathlib import Path
from scalinglab.train import CheckpointPolicy, RunConfig, train_run
out, policy = Path(sys.argv[1]), sys.argv[2]
config = RunConfig(**json.loads(sys.argv[3]))
started = []
def progress(update):
    if not started:
        started.append(time.time())
        (out / "started").write_text(repr(started[0]))
checkpoints = CheckpointPolicy(fixed_seconds=300.0) if policy == "before" else CheckpointPolicy()
result = train_run(config, out_dir=out, progress=progress, checkpoints=checkpoints)
print(json.dumps({"seconds": result.seconds, "saves": result.info["checkpoints"],
                  "saving": result.info["checkpoint_seconds"],
                  "training": time.time() - started[0]}))
"""


def _child(out: Path, policy: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(out), policy, json.dumps(CONFIG)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def uninterrupted(policy: str, folder: Path) -> dict[str, float]:
    out = folder / f"{policy}-full"
    out.mkdir()
    child = _child(out, policy)
    stdout, stderr = child.communicate()
    if child.returncode:
        raise SystemExit(stderr)
    return json.loads(stdout.strip().splitlines()[-1])


def killed(policy: str, folder: Path, index: int, training_seconds: float,
           rng: random.Random) -> float:
    """Seconds of training lost to one SIGKILL at a uniform moment of the run."""
    out = folder / f"{policy}-kill{index}"
    out.mkdir()
    child = _child(out, policy)
    while not (out / "started").exists():
        if child.poll() is not None:
            raise SystemExit(child.stderr.read() if child.stderr else "child died")
        time.sleep(0.01)
    started = float((out / "started").read_text())
    time.sleep(max(0.0, started + rng.uniform(0.0, training_seconds) - time.time()))
    child.send_signal(signal.SIGKILL)
    moment = time.time()
    child.wait()
    checkpoints = list(out.glob("checkpoint-*.pt"))
    saved = max((p.stat().st_mtime for p in checkpoints), default=started)
    return moment - max(saved, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for policy in ("before", "after"):
            full = uninterrupted(policy, folder)
            losses = [killed(policy, folder, i, full["training"], rng) for i in range(args.kills)]
            rows.append((policy, full, losses))
            print(f"{policy}: {full}, lost {[round(x, 2) for x in losses]}", flush=True)
    print()
    print("| policy | run (s) | checkpoints | saving (s) | overhead | lost, median (s) | "
          "lost, max (s) | median share of run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for policy, full, losses in rows:
        median = statistics.median(losses)
        print(f"| {policy} | {full['training']:.1f} | {full['saves']} | {full['saving']:.2f} | "
              f"{100 * full['saving'] / full['training']:.2f}% | {median:.2f} | "
              f"{max(losses):.2f} | {100 * median / full['training']:.1f}% |")


if __name__ == "__main__":
    main()
