"""Several designs in one command share one worker pool (`driver.run_designs`)."""

from __future__ import annotations

from scalinglab.sweep.design import parse_design
from scalinglab.sweep.driver import run_designs, run_sweeps
from scalinglab.sweep.store import Store

TINY_RUN = {"kind": "grid", "tokens": [2e4],
            "overrides": {"n_ctx": 32, "eval_tokens": 2048, "batch_tokens": 512}}


def test_two_designs_train_side_by_side_not_one_after_the_other(tmp_path):
    designs = [parse_design({**TINY_RUN, "name": name, "params": [3e3], "seeds": [seed]})
               for name, seed in (("a", 0), ("b", 1))]
    notes: list[str] = []
    run_designs(designs, tmp_path / "s.db", workers=2, on_note=notes.append)
    with Store(tmp_path / "s.db") as store:
        runs = {sweep: store.runs(sweep).iloc[0] for sweep in ("a", "b")}
    assert all(run["status"] == "done" for run in runs.values())
    # Each started before the other finished: one pool, not design a then design b.
    assert runs["b"]["started"] < runs["a"]["finished"]
    assert runs["a"]["started"] < runs["b"]["finished"]
    assert any("sweep 'b': 1 runs, 0 finished, 1 to run" in n for n in notes)


def test_a_run_two_designs_share_is_trained_once_and_counted_in_both(tmp_path):
    shared = parse_design({**TINY_RUN, "name": "one", "params": [3e3]})
    wider = parse_design({**TINY_RUN, "name": "two", "params": [3e3], "seeds": [0, 1]})
    outcomes = run_sweeps([shared, wider], tmp_path / "s.db", workers=2)
    assert [o.counts for o in outcomes] == [{"done": 1}, {"done": 2}]
    with Store(tmp_path / "s.db") as store:
        assert len(store.runs()) == 2
        assert (store.runs()["attempts"] == 1).all()
