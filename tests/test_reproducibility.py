"""Same seed, same thread count, same machine: the same run, to 1e-4 in the final loss.

See docs/reproducibility.md for what this does not cover (other machines, thread counts, GPUs).
"""

from __future__ import annotations

import json

import pytest
import torch

from scalinglab.train import RunConfig, train_run

# ~3e3 non-embedding parameters, 8k tokens of the markov source: about a second a run.
TINY = dict(params=3e3, tokens=8e3, corpus="markov", n_ctx=32, eval_tokens=2048, eval_count=2,
            seed=3, threads=1, device="cpu")


@pytest.fixture
def keep_threads():
    """`train_run` sets torch's (process-wide) thread count; put it back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_same_seed_and_threads_reproduce_the_final_loss(keep_threads) -> None:
    first = train_run(RunConfig(**TINY))
    second = train_run(RunConfig(**TINY))
    assert first.status == second.status == "done"
    assert abs(first.final_loss - second.final_loss) <= 1e-4, (first.final_loss,
                                                               second.final_loss)
    assert first.measurements["loss"].tolist() == pytest.approx(
        second.measurements["loss"].tolist(), abs=1e-4)


def test_a_run_records_its_threads_and_device(tmp_path, keep_threads) -> None:
    result = train_run(RunConfig(**TINY), out_dir=tmp_path)
    assert (result.threads, result.device) == (1, "cpu")
    assert (result.measurements["threads"] == 1).all()
    assert (result.measurements["device"] == "cpu").all()
    summary = json.loads((tmp_path / "result.json").read_text())["summary"]
    assert (summary["threads"], summary["device"]) == (1, "cpu")
    again = train_run(RunConfig(**TINY), out_dir=tmp_path)  # read back, not retrained
    assert (again.threads, again.device) == (1, "cpu") and "threads" not in again.info
    assert again.final_loss == result.final_loss
