"""The measurements table: reading, renaming, deriving, and one-line errors for bad input."""

from pathlib import Path

import pandas as pd
import pytest

from scalinglab.errors import ScalinglabError
from scalinglab.measurements import (
    drop_highest_loss,
    final_rows,
    finished_rows,
    parse_column_map,
    read_measurements,
)


def write(tmp_path: Path, text: str, name: str = "runs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_csv_and_derives_tokens_from_flops(tmp_path):
    path = write(tmp_path, "Model Size,Training FLOP,loss\n1e6,6e12,3.0\n2e6,2.4e13,2.8\n")
    table, notes = read_measurements(
        path, parse_column_map(["Model Size=params", "Training FLOP=flops"])
    )
    assert list(table["tokens"]) == pytest.approx([1e6, 2e6])
    assert list(table.columns[:7]) == [
        "run", "family", "params", "params_nonembedding", "tokens", "flops", "loss"
    ]
    assert any("derived tokens" in n for n in notes)
    assert table["run"].nunique() == 2  # each row is its own run without run ids


def test_derives_flops_from_params_and_tokens(tmp_path):
    path = write(tmp_path, "run,params,tokens,loss\na,10,100,2.0\n")
    table, notes = read_measurements(path)
    assert table.loc[0, "flops"] == pytest.approx(6000.0)
    assert any("derived flops" in n for n in notes)


def test_reads_parquet(tmp_path):
    path = tmp_path / "runs.parquet"
    pd.DataFrame({"params": [1.0, 2.0], "tokens": [3.0, 4.0], "loss": [2.0, 1.9]}).to_parquet(path)
    table, _ = read_measurements(path)
    assert len(table) == 2


def test_final_rows_picks_last_evaluation_of_each_run():
    table = pd.DataFrame({"run": ["a", "a", "b"], "tokens": [1.0, 2.0, 5.0], "loss": [3, 2, 1]})
    assert sorted(final_rows(table)["tokens"]) == [2.0, 5.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params,tokens,los\n1,2,3\n", "missing column 'loss' (did you mean 'los'?)"),
        ("params,tokens,loss\n1,2,abc\n", "row 1, column 'loss': 'abc' is not a number"),
        ("params,tokens,loss\n1,2,3\n1,2,\n", "row 2, column 'loss': value is missing (NaN)"),
        ("params,tokens,loss\n1,2,3\n0,2,3\n", "row 2, column 'params': 0 must be positive"),
        ("params,tokens,loss\n1,-2,3\n", "row 1, column 'tokens': -2 must be positive"),
        ("params,loss\n1,3\n", "need two of the columns"),
        ("params,tokens,loss\n", "has no rows"),
    ],
)
def test_bad_tables_name_the_problem(tmp_path, text, expected):
    with pytest.raises(ScalinglabError) as error:
        read_measurements(write(tmp_path, text))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ScalinglabError, match="no such file"):
        read_measurements(tmp_path / "nope.csv")
    with pytest.raises(ScalinglabError, match="the file is empty"):
        read_measurements(write(tmp_path, ""))


def test_map_of_a_misspelled_column_suggests_the_closest(tmp_path):
    path = write(tmp_path, "Model Size,Training FLOP,loss\n1,6,3\n")
    with pytest.raises(ScalinglabError, match="did you mean 'Model Size'"):
        read_measurements(path, parse_column_map(["Model Sise=params", "Training FLOP=flops"]))
    with pytest.raises(ScalinglabError, match="SOURCE=COLUMN"):
        parse_column_map(["params"])


def test_final_rows_ignores_missing_marks():
    # A CSV round trip leaves NaN where a row was never marked; NaN is not "final".
    table = pd.DataFrame({"run": ["a", "a"], "tokens": [1.0, 2.0], "loss": [3, 2],
                          "final": [float("nan"), True]})
    assert list(final_rows(table)["tokens"]) == [2.0]


def test_finished_rows_are_every_marked_row_cooldown_branches_included():
    table = pd.DataFrame({"run": ["a"] * 4, "tokens": [1.0, 2.0, 3.0, 4.0], "loss": [4, 3, 2, 1],
                          "final": [False, True, float("nan"), True]})
    assert list(finished_rows(table)["tokens"]) == [2.0, 4.0]
    assert list(final_rows(table)["tokens"]) == [2.0, 4.0]


def test_finished_rows_without_marks():
    curves = pd.DataFrame({"run": ["a", "a", "b"], "tokens": [1.0, 2.0, 5.0], "loss": [3, 2, 1]})
    # No marks: each run's last evaluation stands for it (never a mid-schedule checkpoint).
    assert sorted(finished_rows(curves)["tokens"]) == [2.0, 5.0]
    assert sorted(finished_rows(curves.assign(final=float("nan")))["tokens"]) == [2.0, 5.0]
    assert len(finished_rows(curves.assign(final=True))) == 3  # marked: the user vouches
    assert finished_rows(curves.assign(final=False)).empty  # marked: none is finished
    assert sorted(final_rows(curves.assign(final=False))["tokens"]) == [2.0, 5.0]


def test_drop_highest_loss_drops_the_k_worst_rows():
    table = pd.DataFrame({"loss": [3.0, 1.0, 5.0, 2.0]}, index=[7, 7, 8, 9])
    assert list(drop_highest_loss(table, 2)["loss"]) == [1.0, 2.0]
    assert list(drop_highest_loss(table, 0)["loss"]) == [3.0, 1.0, 5.0, 2.0]


@pytest.mark.parametrize(("k", "expected"), [(-1, "must be 0 or more"), (4, "would drop all 4")])
def test_drop_highest_loss_refuses_bad_counts(k, expected):
    table = pd.DataFrame({"loss": [3.0, 1.0, 5.0, 2.0]})
    with pytest.raises(ScalinglabError, match=expected) as error:
        drop_highest_loss(table, k, source="runs.csv")
    assert str(error.value).startswith("runs.csv: ") and "\n" not in str(error.value)
