"""`scalinglab import`: each format's real layout in, the measurements table out, a fit back.

The end-to-end tests run the installed command line as a user would (`scalinglab import
FORMAT PATHS... -o runs.csv`, then `scalinglab fit runs.csv --law chinchilla --json`, no
`--map`) on 20 runs drawn from a known law (`imported_logs`): the fit must use one row per run
and recover alpha and beta within 0.03. The unit tests hold the rest: the `final` marks, the
metric chosen, the parameter count from each source.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imported_logs import (
    LLAMA_NONEMBEDDING,
    SIZES,
    STEP0_LOSS,
    TOKENS_PER_STEP,
    TRUTH,
    Run,
    grid,
    llama_config,
    nanogpt_total,
    trainer_state,
    write_hf,
    write_jsonl,
    write_mlflow,
    write_nanogpt,
    write_tensorboard,
    write_wandb,
)
from scalinglab.accounting import ParamCount
from scalinglab.importers import ImportOptions, import_runs, params_from_hf_config
from scalinglab.importers.common import OUTPUT_COLUMNS
from scalinglab.measurements import final_rows, is_finished, read_measurements

SCALINGLAB = str(Path(sys.executable).with_name("scalinglab"))
K = str(TOKENS_PER_STEP)
NAME_REGEX = "N([0-9.e+]+)"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCALINGLAB, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def _import_and_fit(tmp_path: Path, runs: list[Run], *args: str,
                    nonembedding: bool = False) -> dict:
    """Import with the installed CLI, check the table against the runs, fit it, check the fit."""
    imported = _cli("import", *args, "-o", "runs.csv", "--json", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert summary["runs"] == len(runs) == 20 and summary["final_rows"] == 20
    assert any("marked each run's last evaluation final: 20 runs" in n
               for n in summary["notes"])

    table = pd.read_csv(tmp_path / "runs.csv")
    assert tuple(table.columns) == OUTPUT_COLUMNS
    final = table[table["final"]].set_index("run")
    for run in runs:
        row = final.loc[run.name]
        assert row["tokens"] == run.tokens[-1]
        assert row["loss"] == pytest.approx(run.losses[-1], rel=1e-4)  # the validation loss
        counted = row["params_nonembedding"] if nonembedding else row["params"]
        assert counted == run.params
        assert (table.loc[table["run"] == run.name, "loss"] < STEP0_LOSS - 0.5).all()
    assert (table["tokens"] > 0).all() and (table.groupby("run").size() == 10).all()
    assert np.allclose(table["flops"], 6 * table["params"] * table["tokens"], rtol=1e-12)

    fitted = _cli("fit", "runs.csv", "--law", "chinchilla", "--json", cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    fit = json.loads(fitted.stdout)
    assert fit["converged"] and fit["n_points"] == 20  # one row per run: its final one
    print(f"{args[0]}: alpha {fit['params']['alpha']:.4f}, beta {fit['params']['beta']:.4f}")
    assert fit["params"]["alpha"] == pytest.approx(TRUTH["alpha"], abs=0.03)
    assert fit["params"]["beta"] == pytest.approx(TRUTH["beta"], abs=0.03)
    return summary


# --- End to end, one test per format ------------------------------------------------------------


def test_tensorboard_folders_written_by_summary_writer(tmp_path: Path) -> None:
    runs = grid()
    write_tensorboard(tmp_path / "runs", runs)
    summary = _import_and_fit(tmp_path, runs, "tensorboard", "runs", "--tokens-per-step", K,
                              "--params-from-name", NAME_REGEX)
    assert "loss: metric 'val/loss' (val split) for 20 runs" in summary["notes"]
    assert any("dropped 20 evaluation(s) at step 0" in n for n in summary["notes"])


def test_wandb_chart_export_with_the_runs_table(tmp_path: Path) -> None:
    runs = grid()
    chart, table = write_wandb(tmp_path, runs)
    summary = _import_and_fit(tmp_path, runs, "wandb-csv", chart.name, table.name,
                              "--tokens-per-step", K)
    assert any("crashed-early" in n and "left out" in n for n in summary["notes"])
    assert {p["params_from"] for p in summary["provenance"]} == {"setting 'n_params'"}


def test_mlflow_file_store(tmp_path: Path) -> None:
    runs = grid()
    write_mlflow(tmp_path, runs)
    summary = _import_and_fit(tmp_path, runs, "mlflow", "mlruns")
    assert any("deleted-run (deleted in MLflow)" in n for n in summary["notes"])
    assert {p["tokens_from"] for p in summary["provenance"]} == {
        "step x setting 'tokens_per_step'"}


def test_hf_trainer_state_with_llama_configs(tmp_path: Path) -> None:
    runs = grid(params=LLAMA_NONEMBEDDING)
    write_hf(tmp_path, runs)
    summary = _import_and_fit(tmp_path, runs, "hf-trainer-state", "out", "--tokens-per-step", K,
                              nonembedding=True)
    assert "loss: metric 'eval_loss' (val split) for 20 runs" in summary["notes"]
    # the run folder's final state, not its older checkpoint-STEP/ copy
    assert all(p["path"].endswith(f"{p['run']}/trainer_state.json")
               for p in summary["provenance"])


def test_nanogpt_logs(tmp_path: Path) -> None:
    runs = grid(params=tuple(int(round(n, -4)) for n in SIZES))  # "number of parameters: X.XXM"
    paths = write_nanogpt(tmp_path, runs)
    summary = _import_and_fit(tmp_path, runs, "nanogpt-log", *(p.name for p in paths),
                              nonembedding=True)
    table = pd.read_csv(tmp_path / "runs.csv")
    assert table.groupby("run")["params"].first().to_dict() == {
        run.name: nanogpt_total(run) for run in runs}
    assert "loss: metric 'val_loss' (val split) for 20 runs" in summary["notes"]


def test_jsonl_one_file_per_run(tmp_path: Path) -> None:
    runs = grid()
    (tmp_path / "logs").mkdir()
    write_jsonl(tmp_path / "logs", runs)
    summary = _import_and_fit(tmp_path, runs, "jsonl", "logs")
    assert "tokens: logged 'tokens' for 20 runs" in summary["notes"]


def test_csv_with_a_run_column_and_map(tmp_path: Path) -> None:
    runs = grid()
    rows = [{"name": run.name, "iteration": int(s), "validation ppl-loss": float(v),
             "num_params": run.params} for run in runs
            for s, v in zip(run.steps, run.losses, strict=True)]
    pd.DataFrame(rows).sample(frac=1, random_state=0).sort_values(
        ["name", "iteration"]).to_csv(tmp_path / "all.csv", index=False)
    _import_and_fit(tmp_path, runs, "csv", "all.csv", "--map", "name=run", "--map",
                    "validation ppl-loss=val_loss", "--tokens-per-step", K)


# --- The final marks ----------------------------------------------------------------------------


def _csv_runs(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "logs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_only_each_runs_last_evaluation_is_final(tmp_path: Path) -> None:
    rows = [{"run": run, "step": step, "loss": 4.0 - step / 1000, "n_params": 1e6}
            for run, steps in (("b", (100, 300, 400)), ("a", (100, 300, 500)))
            for step in steps]
    result = import_runs("csv", [_csv_runs(tmp_path, rows)],
                         ImportOptions(tokens_per_step=1000))
    table = result.table
    assert list(table["run"]) == ["a", "a", "a", "b", "b", "b"]  # sorted by run, tokens
    assert list(table["tokens"]) == [1e5, 3e5, 5e5, 1e5, 3e5, 4e5]
    assert list(table["final"]) == [False, False, True, False, False, True]
    assert is_finished(table).sum() == 2 and len(final_rows(table)) == 2
    assert ("marked each run's last evaluation final: 2 runs, 6 evaluations; only those stand "
            "for their runs in a fit") in result.notes


def test_written_table_reads_back_with_its_marks(tmp_path: Path) -> None:
    runs = grid()[:3]
    write_jsonl(tmp_path, runs)
    result = import_runs("jsonl", [tmp_path], ImportOptions())
    out = tmp_path / "runs.parquet"
    from scalinglab.files import write_table

    write_table(result.table, out)
    table, _ = read_measurements(out)
    assert table["final"].sum() == 3 and set(final_rows(table)["tokens"]) == {
        run.tokens[-1] for run in runs}


def test_step0_and_nonfinite_rows_are_dropped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"step": 0, "loss": 10.8}\n{"step": 10, "loss": NaN}\n'
                    '{"step": 20, "loss": 3.0}\n{"step": 30, "loss": Infinity}\n'
                    '{"step": 40, "loss": 2.5}\n')
    result = import_runs("jsonl", [path], ImportOptions(tokens_per_step=100, params=1e6))
    assert list(result.table["step"]) == [20, 40]
    assert list(result.table["final"]) == [False, True]
    assert ("dropped 1 evaluation(s) at step 0 and 2 evaluation(s) with a NaN or infinite loss "
            "(they cannot be fitted)") in result.notes


# --- Which metric -------------------------------------------------------------------------------


def test_validation_loss_is_taken_before_training_loss(tmp_path: Path) -> None:
    rows = [{"step": s, "train/loss": 3.0 - s / 100, "val/loss": 3.1 - s / 100, "n_params": 5e6}
            for s in (10, 20)]
    path = _csv_runs(tmp_path, rows)
    result = import_runs("csv", [path], ImportOptions(tokens_per_step=10))
    assert list(result.table["loss"]) == [3.0, 2.9] and set(result.table["split"]) == {"val"}
    assert "loss: metric 'val/loss' (val split) for 1 run" in result.notes
    chosen = import_runs("csv", [path], ImportOptions(tokens_per_step=10, metric="train/loss"))
    assert list(chosen.table["loss"]) == [2.9, 2.8] and set(chosen.table["split"]) == {"train"}


def test_training_loss_when_no_validation_loss_is_logged(tmp_path: Path) -> None:
    path = _csv_runs(tmp_path, [{"step": 10, "loss": 3.0, "lr": 1e-3, "params": 1e6}])
    result = import_runs("csv", [path], ImportOptions(tokens_per_step=10))
    assert result.runs[0].metric == "loss" and result.table["split"].iloc[0] == "train"


def test_each_format_prefers_its_validation_loss(tmp_path: Path) -> None:
    run = grid()[0]
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(trainer_state(run)))
    hf = import_runs("hf-trainer-state", [folder], ImportOptions(tokens_per_step=1, params=1e6))
    assert hf.runs[0].metric == "eval_loss" and hf.runs[0].evaluations == 10
    assert hf.table["loss"].iloc[-1] == pytest.approx(run.losses[-1])
    log = write_nanogpt(tmp_path, [run])[0]
    nano = import_runs("nanogpt-log", [log])
    assert nano.runs[0].metric == "val_loss"
    iters = import_runs("nanogpt-log", [log], ImportOptions(metric="iter_loss"))
    assert iters.runs[0].evaluations == len(run.train_steps)


def test_a_run_without_the_usual_loss_names_asks_for_metric(tmp_path: Path) -> None:
    path = _csv_runs(tmp_path, [{"step": 10, "perplexity": 20.0, "params": 1e6}])
    with pytest.raises(ValueError, match=r"give --metric NAME \(it logs 'params', 'perplexity'\)"):
        import_runs("csv", [path], ImportOptions(tokens_per_step=10))


# --- Parameter counts from each source ---------------------------------------------------------

GPT2_SMALL = {"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
              "n_positions": 1024, "vocab_size": 50257, "n_inner": None,
              "tie_word_embeddings": True}


def test_gpt2_small_is_124_439_808_parameters() -> None:
    # Hand count: wte 50257*768 = 38,597,376; wpe 1024*768 = 786,432; per block ln_1 and
    # ln_2 2*1536, c_attn 768*2304+2304, attn c_proj 768*768+768, c_fc 768*3072+3072, mlp
    # c_proj 3072*768+768 = 7,087,872, x12 = 85,054,464; ln_f 1536. The lm_head is tied.
    count = params_from_hf_config(GPT2_SMALL)
    assert count == ParamCount(total=124_439_808, nonembedding=85_056_000)
    untied = params_from_hf_config({**GPT2_SMALL, "tie_word_embeddings": False})
    assert untied.total == 124_439_808 + 38_597_376 and untied.nonembedding == 85_056_000
    nanogpt = {"n_layer": 12, "n_embd": 768, "block_size": 1024, "vocab_size": 50304,
               "bias": False}  # nanoGPT's GPTConfig, without biases
    assert params_from_hf_config(nanogpt).total == (
        50304 * 768 + 1024 * 768 + 12 * (2 * 768 + 4 * 768 * 768 + 8 * 768 * 768) + 768)


def test_llama_counts_match_the_published_models() -> None:
    llama2_7b = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
                 "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
                 "vocab_size": 32000, "tie_word_embeddings": False}
    assert params_from_hf_config(llama2_7b).total == 6_738_415_616  # Llama-2-7b
    tinyllama = {**llama2_7b, "hidden_size": 2048, "intermediate_size": 5632,
                 "num_hidden_layers": 22, "num_key_value_heads": 4}  # grouped-query k/v
    count = params_from_hf_config(tinyllama)
    assert count.total == 1_100_048_384  # TinyLlama-1.1B
    assert count.nonembedding == 1_100_048_384 - 2 * 32000 * 2048


def test_llama_configs_of_the_fixture_match_their_hand_counts() -> None:
    from imported_logs import LLAMA_SHAPES

    counts = [params_from_hf_config(llama_config(shape)) for shape in LLAMA_SHAPES]
    assert tuple(c.nonembedding for c in counts) == LLAMA_NONEMBEDDING
    assert all(c.total == c.nonembedding + 2 * 32000 * shape[0]
               for c, shape in zip(counts, LLAMA_SHAPES, strict=True))


def test_hf_config_in_the_parent_checkout_folder(tmp_path: Path) -> None:
    run = grid()[0]
    checkpoint = tmp_path / "run" / "checkpoint-500"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps(trainer_state(run)))
    (tmp_path / "run" / "config.json").write_text(json.dumps(GPT2_SMALL))
    result = import_runs("hf-trainer-state", [checkpoint / "trainer_state.json"],
                         ImportOptions(tokens_per_step=1))
    assert result.runs[0].run == "run" and result.runs[0].params == 124_439_808
    assert result.runs[0].params_nonembedding == 85_056_000
    assert result.runs[0].params_where == str(tmp_path / "run" / "config.json")


def test_hf_tokens_from_num_input_tokens_seen(tmp_path: Path) -> None:
    run = grid()[0]
    state = trainer_state(run)
    for entry in state["log_history"]:
        entry["num_input_tokens_seen"] = entry["step"] * 4096
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    result = import_runs("hf-trainer-state", [tmp_path / "trainer_state.json"],
                         ImportOptions(params=1e6))
    assert list(result.table["tokens"]) == list(run.steps * 4096)
    assert result.runs[0].tokens_from == "logged 'num_input_tokens_seen'"


def test_hf_unfinished_run_is_noted(tmp_path: Path) -> None:
    run = grid()[0]
    (tmp_path / "trainer_state.json").write_text(json.dumps(trainer_state(run, upto=int(
        run.steps[4]))))
    result = import_runs("hf-trainer-state", [tmp_path], ImportOptions(tokens_per_step=1,
                                                                        params=1e6))
    assert any("mid-schedule" in n for n in result.notes) and result.runs[0].evaluations == 5


def test_nanogpt_reported_count_is_the_nonembedding_one(tmp_path: Path) -> None:
    run = grid(params=(123_690_000,) * 5)[0]
    log = write_nanogpt(tmp_path, [run])[0]
    result = import_runs("nanogpt-log", [log])
    assert result.runs[0].params_nonembedding == 123_690_000
    assert result.runs[0].params == 123_690_000 + 1024 * 768
    bare = tmp_path / "bare.log"
    bare.write_text("\n".join(line for line in log.read_text().splitlines()
                              if not line.startswith("num ")))
    alone = import_runs("nanogpt-log", [bare])
    assert alone.runs[0].params == alone.runs[0].params_nonembedding == 123_690_000
    assert any("no optimizer lines" in n for n in alone.notes)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(GPT2_SMALL))
    exact = import_runs("nanogpt-log", [bare], ImportOptions(params_from_config=config))
    assert exact.runs[0].params == 124_439_808 and exact.runs[0].nonembedding_known


def test_params_from_name_option_and_settings(tmp_path: Path) -> None:
    rows = [{"run": "gpt-N3.5e7-D1e9", "step": 10, "loss": 3.0},
            {"run": "gpt-N1.2e+08-D1e9", "step": 10, "loss": 2.9}]
    path = _csv_runs(tmp_path, rows)
    named = import_runs("csv", [path], ImportOptions(tokens_per_step=1,
                                                     params_from_name=NAME_REGEX))
    assert dict(zip(named.table["run"], named.table["params"], strict=True)) == {
        "gpt-N3.5e7-D1e9": 3.5e7, "gpt-N1.2e+08-D1e9": 1.2e8}
    given = import_runs("csv", [path], ImportOptions(tokens_per_step=1, params=7e6))
    assert set(given.table["params"]) == {7e6}
    assert any("params_nonembedding unknown for 2 runs" in n for n in given.notes)


def test_mlflow_params_and_tokens_per_step_from_batch_settings(tmp_path: Path) -> None:
    runs = grid()[:2]
    mlruns = write_mlflow(tmp_path, runs)
    for params in mlruns.glob("0/*/params"):
        (params / "tokens_per_step").unlink()
        (params / "batch_size").write_text("16")
        (params / "block_size").write_text("1024")
        (params / "gradient_accumulation_steps").write_text("4")
        (params / "n_params").unlink()
        (params / "model").mkdir()
        (params / "model" / "num_parameters").write_text("4.2e7")
    experiment = import_runs("mlflow", [mlruns / "0"])
    assert {r.tokens_from for r in experiment.runs} == {
        "step x settings batch_size x block_size x gradient_accumulation_steps"}
    assert {r.params for r in experiment.runs} == {4.2e7}
    one = next(p.parent for p in mlruns.glob("0/*/tags/mlflow.runName")
               if p.read_text() == runs[0].name).parent
    single = import_runs("mlflow", [one])
    assert len(single.runs) == 1 and single.table["family"].iloc[0] == "Default"
    assert single.table["tokens"].iloc[0] % (16 * 1024 * 4) == 0


def test_tensorboard_hparams_give_the_settings(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "run"))
    for step, loss in ((10, 3.0), (20, 2.8)):
        writer.add_scalar("eval/loss", loss, step)
    writer.add_hparams({"n_params": 1234567, "tokens_per_step": 2048}, {"hparam/loss": 2.8})
    writer.close()
    result = import_runs("tensorboard", [tmp_path])
    assert [r.run for r in result.runs] == ["run"]
    assert result.runs[0].params == 1234567 and list(result.table["tokens"]) == [20480, 40960]
    assert any("hparams subfolder" in n for n in result.notes)


def test_tensorboard_event_file_paths_and_tensor_scalars(tmp_path: Path) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    folder = tmp_path / "tf2-run"
    writer = EventFileWriter(str(folder))
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    for step, loss in ((100, 3.5), (200, 3.1)):
        value = summary_pb2.Summary.Value(tag="val_loss", metadata=metadata,
                                          tensor=tensor_util.make_tensor_proto(np.float32(loss)))
        writer.add_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    event_file = next(folder.iterdir())
    result = import_runs("tensorboard", [event_file],
                         ImportOptions(tokens_per_step=10, params=1e6))
    assert result.runs[0].run == "tf2-run" and list(result.table["loss"]) == pytest.approx(
        [3.5, 3.1])


def test_wandb_runs_table_alone_is_one_evaluation_per_run(tmp_path: Path) -> None:
    runs = grid()[:3]
    _, table = write_wandb(tmp_path, runs, extra_table_run=False)
    result = import_runs("wandb-csv", [table], ImportOptions(tokens_per_step=TOKENS_PER_STEP))
    assert len(result.table) == 3 and result.table["final"].all()
    assert set(result.table["loss"]) == {run.losses[-1] for run in runs}


def test_wandb_history_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps({"_step": s, "_runtime": s / 10, "train/loss": 3.0,
                                        "eval/loss": 3.2 - s / 1000, "tokens": s * 512})
                            + "\n" for s in (100, 200, 300)))
    result = import_runs("wandb-csv", [path], ImportOptions(params=2e6))
    assert result.runs[0].run == "history" and result.runs[0].metric == "eval/loss"
    assert list(result.table["tokens"]) == [51200, 102400, 153600]


def test_output_table_is_written_atomically_by_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scalinglab.cli import app

    runs = grid()[:2]
    paths = write_jsonl(tmp_path, runs)
    result = CliRunner().invoke(app, ["import", "jsonl", *map(str, paths), "-o",
                                      str(tmp_path / "runs.parquet")])
    assert result.exit_code == 0, result.output
    assert "wrote 20 rows of 2 runs" in result.stdout
    assert pd.read_parquet(tmp_path / "runs.parquet")["final"].sum() == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
