"""One validation layer: option rules, sweep-file overrides, FIT.json, side tables, token ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.data.tokens import load_tokens
from scalinglab.errors import ScalinglabError
from scalinglab.options import RULES, check_option

runner = CliRunner()


@pytest.mark.parametrize(("flag", "value", "ok"), [
    ("--bootstrap", 0, True), ("--bootstrap", -1, False), ("--jobs", -1, True),
    ("--jobs", -5, False), ("--jobs", 0, False), ("--mfu", 1.0, True), ("--mfu", 0.0, False),
    ("--compute", float("inf"), False), ("--compute", float("nan"), False),
    ("--seed", 2**32, False), ("--cooldown-tokens", [1e3, -1.0], False),
    ("--price-per-hour", 0.0, True), ("--unknown", -1, True),
])
def test_option_rules(flag: str, value, ok: bool) -> None:
    if ok:
        check_option(flag, value)
    else:
        with pytest.raises(ScalinglabError, match=f"^{flag} must be .*, got"):
            check_option(flag, value)


def test_every_numeric_option_of_every_command_has_a_rule() -> None:
    """A new numeric option must say what it allows (add it to scalinglab.options.RULES)."""
    import inspect

    import typer.main

    from scalinglab.cli.app import _flags

    group = typer.main.get_command(app)
    missing = []
    commands = list(group.commands.values())  # type: ignore[attr-defined]
    while commands:
        command = commands.pop()
        if hasattr(command, "commands"):
            commands.extend(command.commands.values())
            continue
        callback = command.callback
        flags = _flags(callback)
        for name, parameter in inspect.signature(callback).parameters.items():
            annotation = str(parameter.annotation)
            numeric = any(t in annotation for t in ("int", "float")) and "bool" not in annotation
            if numeric and name in flags and flags[name] not in RULES and flags[name] not in (
                    "--approach",):
                missing.append(f"{command.name} {flags[name]}")
    assert not missing, missing


def test_a_learning_curve_needs_only_its_x_column(tmp_path: Path) -> None:
    tokens = np.geomspace(1e5, 1e8, 12)
    path = tmp_path / "curve.csv"
    pd.DataFrame({"tokens": tokens, "loss": 2.0 + 30.0 / tokens**0.3}).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path), "--law", "saturating", "--x", "tokens",
                                 "--json"])
    assert result.exit_code == 0, result.output
    missing_x = runner.invoke(app, ["fit", str(path), "--law", "saturating", "--x", "flops"])
    assert missing_x.exit_code == 2 and "missing column 'flops', the law's x" in missing_x.stderr


def test_an_out_of_range_token_id_is_named_with_its_own_value(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    np.array([1, 2, 150, 3, 900, 4] * 100, dtype=np.uint16).tofile(path)
    with pytest.raises(ScalinglabError, match="token id 150 at position 2 .* largest id in the "
                                              "file is 900; --vocab-size must be at least 901"):
        load_tokens(path, vocab_size=100)
