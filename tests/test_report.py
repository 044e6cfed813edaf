"""The report: figures, the self-contained HTML page, its files, and the `report` command.

Built on (a) synthetic learning curves from a known Chinchilla law (two families, two corpora,
with loss by position), (b) the published Chinchilla runs, and checked in a real headless
browser (Debian's chromium) for a page that loads, shows every figure and logs no errors.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from typer.testing import CliRunner  # noqa: E402

from scalinglab import laws  # noqa: E402
from scalinglab.analyses.study import study  # noqa: E402
from scalinglab.cli import app  # noqa: E402
from scalinglab.report import ReportSummary, build_report  # noqa: E402

CHINCHILLA_CSV = (
    Path(__file__).parents[2] / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"
)
# The law the synthetic runs follow: Chinchilla-like exponents, coefficients for small models.
TRUE_LAW = {"E": 1.8, "A": 40.0, "B": 150.0, "alpha": 0.34, "beta": 0.37}
# How much worse an LSTM is: its A and B are multiplied by this (a constant compute penalty).
LSTM_PENALTY = 1.6
N_RESAMPLES = 8  # few resamples: the tests check plumbing and shape, not interval widths


def synthetic_measurements(seed: int = 0) -> pd.DataFrame:
    """Learning curves from TRUE_LAW: 9 transformer and 4 LSTM sizes, 11 geometric evals each.

    Sizes and eval points sit on a quarter-decade lattice, so equal-compute rows of several sizes
    exist (IsoFLOP profiles). A second corpus ('digits') repeats part of the transformer sweep
    with a lower entropy and a higher penalty, so the modalities figure has two corpora. Noise
    is 0.5% multiplicative.
    """
    rng = np.random.default_rng(seed)
    rows = []
    sweeps = [("transformer", "stdlib", 10 ** np.arange(5.0, 7.01, 0.25), 1.0, TRUE_LAW["E"]),
              ("lstm", "stdlib", 10 ** np.arange(5.0, 6.51, 0.5), LSTM_PENALTY, TRUE_LAW["E"]),
              ("transformer", "digits", 10 ** np.arange(5.0, 6.76, 0.25), 1.3, 1.2)]
    for family, corpus, sizes, penalty, entropy in sweeps:
        for n in sizes:
            run = f"{corpus}-{family}-{n:.2e}"
            for d in n * 10 ** np.arange(-0.25, 2.26, 0.25):
                loss = (entropy + penalty * TRUE_LAW["A"] / n ** TRUE_LAW["alpha"]
                        + penalty * TRUE_LAW["B"] / d ** TRUE_LAW["beta"])
                rows.append({
                    "run": run, "family": family, "corpus": corpus,
                    "params": 1.2 * n, "params_nonembedding": n, "tokens": d,
                    "flops": 6.0 * n * d, "loss": loss * np.exp(rng.normal(0.0, 0.005)),
                    "final": True,  # each row is the law at (N, D): an annealed model
                })
    return pd.DataFrame(rows)


def synthetic_positions(table: pd.DataFrame) -> pd.DataFrame:
    """Loss by context position: transformers keep improving, LSTMs plateau after ~100 tokens."""
    rows = []
    positions = np.arange(1, 513)
    for run, group in table[table["corpus"] == "stdlib"].groupby("run"):
        family, final = group["family"].iloc[0], group["loss"].min()
        if family == "transformer":
            loss = final * 0.9 + 1.5 * positions**-0.5
        else:
            loss = final * 0.9 + 1.5 * np.minimum(positions, 100) ** -0.5
        rows += [{"run": run, "position": p, "loss": v} for p, v in zip(positions, loss,
                                                                        strict=True)]
    return pd.DataFrame(rows)


def synthetic_accuracies(table: pd.DataFrame) -> pd.DataFrame:
    """Exact match of the 'digits' transformers: near 0, then a jump around N = 1e6."""
    runs = table[table["corpus"] == "digits"].groupby("run")["params_nonembedding"].first()
    value = 1.0 / (1.0 + np.exp(-8.0 * (np.log10(runs.to_numpy()) - 6.0)))
    return pd.DataFrame({"run": runs.index, "name": "exact_match", "value": value})


FIGURE_NAMES = ["learning_curves", "loss_vs_params", "loss_vs_tokens", "isoflop_profiles",
                "compute_optimal", "lnd_contours", "position_loss", "family_comparison",
                "equal_tokens", "modalities", "backtest", "residuals", "capabilities"]


@pytest.fixture(scope="module")
def synthetic_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportSummary]:
    """One report from the synthetic sweep, shared by the tests below (it takes seconds)."""
    out = tmp_path_factory.mktemp("synthetic") / "report.html"
    table = synthetic_measurements()
    result = study(table, position_losses=synthetic_positions(table), n_resamples=N_RESAMPLES,
                   accuracies=synthetic_accuracies(table))
    summary = build_report(result, out, title="Synthetic sweep")
    return out, summary


def test_synthetic_report_draws_every_figure_and_writes_its_files(synthetic_report):
    out, summary = synthetic_report
    assert summary.figures == FIGURE_NAMES, summary.skipped
    assert summary.skipped == {}
    for name in FIGURE_NAMES:
        assert (summary.files_dir / f"{name}.png").stat().st_size > 1000
        assert (summary.files_dir / f"{name}.svg").read_text().lstrip().startswith("<svg")
    fits = json.loads((summary.files_dir / "fits.json").read_text())
    assert {f["key"] for f in fits["fits"]} >= {"l_n", "l_d", "l_nd", "l_c"}
    law, samples = laws.load_fit(summary.files_dir / "fit_l_nd.json")
    assert law.name == "chinchilla" and len(samples) == N_RESAMPLES


def test_synthetic_fits_recover_the_true_law(synthetic_report):
    _, summary = synthetic_report
    lnd = next(f for f in summary.fits if f["key"] == "l_nd")
    assert lnd["converged"]
    for name, tolerance in (("E", 0.1), ("alpha", 0.03), ("beta", 0.03)):
        assert lnd["params"][name] == pytest.approx(TRUE_LAW[name], abs=tolerance)
        lo, hi = lnd["intervals"][name]
        assert lo <= lnd["params"][name] <= hi
    # IsoFLOP minima follow N_opt ~ C^(beta / (alpha + beta)) of the true law.
    true_a = TRUE_LAW["beta"] / (TRUE_LAW["alpha"] + TRUE_LAW["beta"])
    assert summary.allocations["isoflop"]["n_opt_exponent"] == pytest.approx(true_a, abs=0.05)
    # The backtest extrapolates a law the data really follow: well under 3% error.
    assert summary.backtest["median_are"] < 0.03


def test_page_is_self_contained_with_a_caption_and_interval_per_figure(synthetic_report):
    out, _ = synthetic_report
    page = out.read_text()
    assert "<script" not in page.lower()
    # Nothing is fetched: links point inside the page, images (colourbars) are data URIs.
    for url in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page):
        assert url.startswith(("#", "data:image/")), url[:80]
    assert "url(http" not in page and "@import" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate element ids across inline SVGs"
    figures_html = re.findall(r'<figure id="([^"]+)".*?<svg.*?</svg>.*?<figcaption>(.*?)'
                              r"</figcaption>", page, flags=re.S)
    assert [name for name, _ in figures_html] == FIGURE_NAMES
    for name, caption in figures_html:
        assert re.search(r"\[[-0-9.e]+, [-0-9.e]+\]", caption), (name, caption)


def test_family_comparison_finds_the_lstm_penalty(synthetic_report):
    out, _ = synthetic_report
    caption = re.search(r'id="family_comparison".*?<figcaption>(.*?)</figcaption>',
                        out.read_text(), flags=re.S).group(1)
    # LSTM losses are 1.6x the transformer's reducible loss: it needs several times the compute.
    multipliers = [float(m) for m in re.findall(r"lstm needs ([0-9.]+)×", caption)]
    assert multipliers and 2.0 < multipliers[0] < 100.0


def test_figures_are_skipped_with_reasons_when_the_data_lacks_them(tmp_path):
    table = pd.DataFrame({"run": ["a", "b", "c"], "family": "x", "params": [1e6, 2e6, 4e6],
                          "params_nonembedding": [1e6, 2e6, 4e6], "tokens": [2e7, 4e7, 8e7],
                          "flops": [1.2e14, 4.8e14, 1.92e15], "loss": [3.0, 2.8, 2.6]})
    summary = build_report(study(table, n_resamples=0), tmp_path / "small.html")
    assert set(summary.skipped) == set(FIGURE_NAMES) - set(summary.figures)
    assert "learning_curves" in summary.skipped and "position_loss" in summary.skipped
    assert all(reason for reason in summary.skipped.values())
    assert "Not shown" in (tmp_path / "small.html").read_text()


@pytest.mark.skipif(not CHINCHILLA_CSV.exists(), reason=f"{CHINCHILLA_CSV} is absent (it lives "
                    "in ../shared, outside the project)")
def test_report_command_on_published_chinchilla_runs(tmp_path):
    out = tmp_path / "chinchilla.html"
    result = CliRunner().invoke(app, [
        "report", "--data", str(CHINCHILLA_CSV), "--map", "Model Size=params",
        "--map", "Training FLOP=flops", "--drop-highest-loss", "5", "-o", str(out),
        "--bootstrap", "20", "--json"])  # the CLI's least for a 95% interval
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # Final losses only: no learning curves, positions or second family; the rest is drawn.
    assert {"learning_curves", "position_loss", "family_comparison"} <= set(summary["skipped"])
    assert {"compute_optimal", "lnd_contours", "backtest", "residuals"} <= set(summary["figures"])
    # Extracted from a figure, the runs' FLOPs are continuous: no two share a budget within 2%,
    # so there are no IsoFLOP profiles (the old 0.1-decade rounding invented them).
    assert "too few IsoFLOP budgets" in summary["skipped"]["isoflop_profiles"]
    assert summary["convention"]["name"] == "recorded"
    lnd = next(f for f in summary["fits"] if f["key"] == "l_nd")
    for name, value in {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473,
                        "beta": 0.3672}.items():
        assert lnd["params"][name] == pytest.approx(value, rel=0.01)
    assert out.exists() and (tmp_path / "chinchilla_files" / "lnd_contours.svg").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "x.csv", "--sweep", "s"], "exactly one of --sweep"),
    (["--data", "missing.csv"], "no such file"),
    (["--sweep", "s", "--store", "missing.db"], "no such results store"),
])
def test_report_command_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", *args, "-o", "r.html"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.skipif(_chromium() is None, reason="chromium not found (make test installs it with "
                    "apt-get install -y chromium where it can)")
def test_report_in_a_headless_browser(synthetic_report, tmp_path):
    out, summary = synthetic_report
    # The page itself: loads and logs nothing to the console.
    loaded = _run_chromium("--dump-dom", out.as_uri())
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "</figure>" in loaded.stdout
    console = [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    # A test-only copy with a probe measuring each figure's rendered box after layout.
    probe = """<script>
      const sizes = [...document.querySelectorAll("figure.report-figure")].map(f => {
        const r = f.querySelector("svg").getBoundingClientRect();
        return f.id + ":" + Math.round(r.width) + "x" + Math.round(r.height);
      });
      document.body.setAttribute("data-sizes", sizes.join(" "));
    </script>"""
    probed = out.with_name("probed.html")
    probed.write_text(out.read_text().replace("</body>", probe + "</body>"))
    dom = _run_chromium("--window-size=1200,900", "--dump-dom", probed.as_uri()).stdout
    sizes = re.search(r'data-sizes="([^"]*)"', dom).group(1).split()
    assert [s.split(":")[0] for s in sizes] == summary.figures
    for entry in sizes:
        width, height = (int(v) for v in entry.split(":")[1].split("x"))
        assert width > 200 and height > 100, entry
    # And a screenshot, for people (kept next to the report).
    shot = tmp_path / "report.png"
    _run_chromium("--window-size=1200,2400", f"--screenshot={shot}", out.as_uri())
    assert shot.stat().st_size > 50_000


def test_report_command_reads_a_sweep_from_the_store(tmp_path):
    from scalinglab.sweep import store as sweep_store

    table = synthetic_measurements()
    table = table[(table["corpus"] == "stdlib") & (table["family"] == "transformer")]
    positions = synthetic_positions(table)
    runs = list(table["run"].unique())
    db = tmp_path / "lab.db"
    with sweep_store.Store(db) as opened:
        opened.register_sweep("tiny", "grid", {}, [
            sweep_store.PlannedRun(hash=f"h{i}", name=run, config={"family": "transformer"},
                                   planned_flops=1e12) for i, run in enumerate(runs)])
        for i, run in enumerate(runs):
            rows = table[table["run"] == run].assign(final=True)
            opened.record_result(f"h{i}", sweep_store.RunRecord(
                status="done", measurements=rows.reset_index(drop=True),
                position_losses=positions.loc[positions["run"] == run, ["position", "loss"]]))
    out = tmp_path / "sweep.html"
    result = CliRunner().invoke(app, ["report", "--sweep", "tiny", "--store", str(db),
                                      "-o", str(out), "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"learning_curves", "lnd_contours", "position_loss"} <= set(summary["figures"])
    assert "family_comparison" in summary["skipped"]
