"""Training runs end to end on tiny models: loss falls, resume, divergence, schedules, corpora."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from scalinglab.errors import ScalinglabError
from scalinglab.measurements import validate
from scalinglab.train import RunConfig, train_run

# A 28k-parameter transformer on short windows: a run takes about a second on one thread.
TINY = dict(params=2e4, tokens=3e4, n_ctx=32, eval_tokens=2048, threads=1)


def test_short_run_loss_falls_and_writes_the_measurements_table(tmp_path):
    cfg = RunConfig(**TINY | {"tokens": 8e4})
    result = train_run(cfg, out_dir=tmp_path)
    table = validate(result.measurements, "train")
    assert result.status == "done"
    assert table["loss"].iloc[0] > result.final_loss + 1.0  # from ~5 nats to ~3
    assert result.final_loss < math.log(256) - 2.0
    assert table["tokens"].is_monotonic_increasing
    assert table["final"].sum() == 1 and table["final"].iloc[-1]
    np.testing.assert_allclose(table["flops"], result.flops_per_token * table["tokens"])
    np.testing.assert_allclose(
        table["flops_kaplan"], 6 * result.params_nonembedding * table["tokens"]
    )
    assert result.config_hash[:8] in result.run
    assert len(result.position_losses) == 32
    assert result.tokens_per_second > 0 and result.corpus_fingerprint.startswith("py")
    assert (tmp_path / "measurements.csv").exists() and (tmp_path / "result.json").exists()
    assert not list(tmp_path.glob("checkpoint-*"))

    started = time.perf_counter()
    again = train_run(cfg, out_dir=tmp_path)  # finished: read back, not retrained
    assert time.perf_counter() - started < 1.0
    assert again.final_loss == pytest.approx(result.final_loss)
    assert len(again.measurements) == len(result.measurements)


def test_resume_after_interruption_gives_the_same_final_loss(tmp_path):
    cfg = RunConfig(**TINY)
    uninterrupted = train_run(cfg)
    calls = {"n": 0}

    def stop_after_300_steps() -> bool:
        calls["n"] += 1
        return calls["n"] > 300

    interrupted = train_run(cfg, out_dir=tmp_path, should_stop=stop_after_300_steps)
    assert interrupted.status == "interrupted"
    assert interrupted.position_losses is None
    assert list(tmp_path.glob("checkpoint-*.pt"))
    resumed = train_run(cfg, out_dir=tmp_path)
    assert resumed.status == "done"
    assert abs(resumed.final_loss - uninterrupted.final_loss) < 1e-4
    np.testing.assert_allclose(
        resumed.measurements["loss"], uninterrupted.measurements["loss"], atol=1e-4
    )


def test_divergence_is_reported_not_raised():
    result = train_run(RunConfig(**TINY | {"lr": 1e3}))
    assert result.status == "diverged"
    assert result.final_loss is None and result.position_losses is None


def test_wsd_cooldown_branches_measure_several_budgets():
    cfg = RunConfig(**TINY | {"schedule": "wsd", "cooldown_tokens": (1e4, 2e4)})
    result = train_run(cfg)
    finals = result.measurements[result.measurements["final"]]
    assert len(finals) == 3
    np.testing.assert_allclose(finals["tokens"], [1e4, 2e4, 3e4], rtol=0.02)
    assert list(finals["phase"]) == ["cooldown", "cooldown", "train"]
    assert finals["loss"].is_monotonic_decreasing


def test_config_hash_ignores_threads_and_device_only():
    cfg = RunConfig(**TINY)
    assert cfg.config_hash() == cfg.replace(threads=2, device="cpu").config_hash()
    assert cfg.config_hash() != cfg.replace(seed=1).config_hash()
    assert len(cfg.config_hash()) == 64


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"family": "rnn"}, "unknown family"),
        ({"tokens": 0}, "--tokens"),
        ({"cooldown_tokens": (1e3,)}, "needs --schedule wsd"),
        ({"schedule": "wsd", "cooldown_tokens": (1e9,)}, "must lie in"),
        ({"corpus": "text"}, "needs a path"),
    ],
)
def test_bad_configs_raise_one_line(changes, message):
    with pytest.raises(ScalinglabError, match=message) as error:
        train_run(RunConfig(**TINY | changes))
    assert "\n" not in str(error.value)


def test_corpus_too_small_for_the_tokens(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("a small corpus of text\n" * 200)
    with pytest.raises(ScalinglabError, match=r"has [\d,]+ training tokens.*fewer than the"):
        train_run(RunConfig(**TINY | {"corpus": "text", "corpus_path": str(path), "tokens": 1e6}))


@pytest.mark.parametrize(
    "corpus, family",
    [
        ("digits", "transformer"),
        ("arithmetic", "transformer"),
        ("markov", "lstm"),
        ("stdlib", "lstm"),
    ],
)
def test_each_corpus_and_family_trains(corpus, family):
    cfg = RunConfig(**TINY | {"corpus": corpus, "family": family, "n_ctx": None, "tokens": 2e4})
    result = train_run(cfg)
    assert result.status == "done"
    assert result.measurements["loss"].iloc[-1] < result.measurements["loss"].iloc[0]
    if corpus == "arithmetic":
        assert result.accuracy is not None and 0 <= result.accuracy <= 1
    else:
        assert result.accuracy is None
    if corpus == "markov":
        assert result.info["entropy_rate"] == pytest.approx(2.1037, abs=1e-3)
        assert result.final_loss > result.info["entropy_rate"]  # nothing beats the true entropy


def test_text_bpe_run_saves_its_tokenizer(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "text.txt"
    rng = np.random.default_rng(0)
    words = ["scaling", "laws", "of", "neural", "language", "models", "tokens"]
    path.write_text("\n".join(" ".join(rng.choice(words, 10)) for _ in range(3000)))
    cfg = RunConfig(**TINY | {"corpus": "text", "corpus_path": str(path), "vocab_size": 300})
    result = train_run(cfg, out_dir=tmp_path / "run")
    assert result.status == "done"
    assert (tmp_path / "run" / "tokenizer.json").exists()


def test_tokens_corpus_trains(tmp_path):
    ids = np.random.default_rng(0).integers(0, 1000, 60_000).astype(np.uint16)
    ids.tofile(tmp_path / "ids.bin")
    cfg = RunConfig(
        **TINY | {"corpus": "tokens", "corpus_path": str(tmp_path / "ids.bin"), "vocab_size": 1000}
    )
    result = train_run(cfg)
    assert result.status == "done"
    # Uniform random ids: nothing to learn below ln(1000).
    assert result.final_loss == pytest.approx(math.log(1000), abs=0.3)


def test_progress_is_reported():
    updates = []
    train_run(RunConfig(**TINY), progress=updates.append)
    assert updates and {"tokens", "loss", "tokens_per_second", "flops"} <= set(updates[-1])
    assert updates[-1]["tokens"] == updates[-1]["tokens_total"]


def test_lstms_get_their_own_measured_learning_rate():
    from scalinglab import schedules
    from scalinglab.train import RunConfig, plan_run

    lstm = plan_run(RunConfig(family="lstm", params=2e4, tokens=1e5, corpus="markov"))
    transformer = plan_run(RunConfig(family="transformer", params=2e4, tokens=1e5,
                                     corpus="markov"))
    assert lstm.lr == schedules.LSTM_LR
    assert transformer.lr == schedules.default_lr(transformer.shape.d_model)
    # A store's LSTM runs under the old (transformer) rule are not reused under the new one.
    assert RunConfig(family="lstm", params=2e4, tokens=1e5).config_hash() != RunConfig(
        family="lstm", params=2e4, tokens=1e5, lr=schedules.default_lr(64)).config_hash()
