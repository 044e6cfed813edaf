"""Training throughput: our `train_run` against a plain nanoGPT-style loop of the same shapes.

    .venv/bin/python benchmarks/train_throughput.py            # full table, recorded in docs
    .venv/bin/python benchmarks/train_throughput.py --quick    # two sizes, short, printed only

For each model size (the ladder's shape for N non-embedding parameters; vocab 256, n_ctx 128,
8192 tokens per step, the stdlib corpus) and thread count (1 and 2) it measures:

- the peak: the best fp32 GFLOP/s of a 1024x1024 matmul probe on that many threads;
- a plain loop: nanoGPT's model and training loop (random offsets, torch.stack of slices,
  AdamW, clipping, a loss.item() every 10 steps), timed after two warm-up steps;
- ours: `train_run` end to end, start-up, evaluations and logging included, with the
  validation set scaled so evaluations take the same share of the work as in a 1000-step run.

Model-FLOPs utilisation (MFU) counts 6N + attention + output layer per token (accounting),
for both. Timings need a quiet machine: other processes on the cores distort every number.
Where CUDA is present it also times a 50M-parameter model in bf16 and reports its MFU against
the GPU's measured bf16 matmul peak.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._record import record_section  # noqa: E402
from scalinglab.accounting import transformer_flops_per_token  # noqa: E402
from scalinglab.data import get_corpus  # noqa: E402
from scalinglab.models.ladder import transformer_shape  # noqa: E402
from scalinglab.train import RunConfig, train_run  # noqa: E402

VOCAB, N_CTX, BATCH_TOKENS = 256, 128, 8192
SIZES = (2.5e4, 1.2e5, 8.4e5, 2.7e6, 6.4e6)
QUICK_SIZES = (2.5e4, 8.4e5)
RUN_STEPS_REFERENCE = 1000  # evaluations are sized as in a run of this many steps


def matmul_peak(threads: int, seconds: float, n: int = 1024) -> float:
    """Best fp32 GFLOP/s of an n x n matmul on `threads` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


# --- The plain loop: nanoGPT's model.py and train.py, stripped to what runs here --------------


class PlainAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)
        self.c_proj = nn.Linear(d_model, d_model, bias=False)
        self.n_head = n_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class PlainBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model, bias=False)
        self.attn = PlainAttention(d_model, n_head)
        self.ln_2 = nn.LayerNorm(d_model, bias=False)
        self.c_fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.c_proj = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class PlainGPT(nn.Module):
    def __init__(self, n_layer: int, d_model: int, n_head: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(VOCAB, d_model)
        self.wpe = nn.Embedding(N_CTX, d_model)
        self.h = nn.ModuleList(PlainBlock(d_model, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model, bias=False)
        self.lm_head = nn.Linear(d_model, VOCAB, bias=False)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.size(1))
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def plain_loop(shape, data: torch.Tensor, threads: int, seconds: float) -> tuple[float, int]:
    """Tokens per second of nanoGPT's loop, and the number of timed steps."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PlainGPT(shape.n_layer, shape.d_model, shape.n_head)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    batch = BATCH_TOKENS // N_CTX

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - N_CTX, (batch,))
        x = torch.stack([data[i : i + N_CTX] for i in ix]).long()
        y = torch.stack([data[i + 1 : i + 1 + N_CTX] for i in ix]).long()
        return x, y

    def step(iteration: int) -> None:
        x, y = get_batch()
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if iteration % 10 == 0:
            loss.item()

    for i in range(2):
        step(i)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        step(steps)
        steps += 1
    return steps * BATCH_TOKENS / (time.perf_counter() - start), steps


def ours(params: float, threads: int, steps: int) -> float:
    """Tokens per second of `train_run`, everything included."""
    cfg = RunConfig(
        corpus="stdlib",
        params=params,
        tokens=steps * BATCH_TOKENS,
        n_ctx=N_CTX,
        batch_tokens=BATCH_TOKENS,
        eval_tokens=max(N_CTX, round(16384 * steps / RUN_STEPS_REFERENCE)),
        threads=threads,
        device="cpu",
    )
    return train_run(cfg).tokens_per_second


def gpu_section(seconds: float) -> str:
    """A 50M-parameter model in bf16 on CUDA: tokens/s and MFU against the bf16 matmul peak."""
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
    peak = 20 * 2 * n**3 / (time.perf_counter() - start)
    n_ctx, batch_tokens = 1024, 2**19
    fpt = None
    rows = []
    for use_compile in (False, True):
        cfg = RunConfig(
            corpus="stdlib",
            params=5e7,
            tokens=batch_tokens * 30,
            n_ctx=n_ctx,
            batch_tokens=batch_tokens,
            device="cuda",
            compile=use_compile,
            eval_tokens=2**15,
        )
        result = train_run(cfg)
        fpt = result.flops_per_token
        mfu = result.tokens_per_second * fpt / peak
        rows.append(
            f"| {result.params_nonembedding:,} | {use_compile} | "
            f"{result.tokens_per_second:,.0f} | {mfu:.0%} |"
        )
    name = torch.cuda.get_device_name()
    return "\n".join(
        [
            f"\nGPU: {name}, measured bf16 matmul peak {peak / 1e12:.0f} TFLOP/s; n_ctx {n_ctx}, "
            f"{batch_tokens:,} tokens per step, 30 steps, everything included.\n",
            "| params (non-emb) | torch.compile | tokens/s | MFU |",
            "|---:|---|---:|---:|",
            *rows,
        ]
    )


def measure(threads: int, sizes: tuple[float, ...], seconds: float) -> list[str]:
    """Table rows for one thread count (run in a fresh process: see `main`)."""
    torch.set_num_threads(threads)
    corpus = get_corpus("stdlib")
    data = torch.from_numpy(np.asarray(corpus.train[: 2**24]).copy())
    peak = matmul_peak(threads, min(seconds, 3.0))
    rows = []
    for params in sizes:
        shape = transformer_shape(params)
        fpt = transformer_flops_per_token(shape.n_layer, shape.d_model, VOCAB, N_CTX)
        plain_tps, steps = plain_loop(shape, data, threads, seconds)
        ours_tps = ours(params, threads, max(steps, 5))
        rows.append(
            f"| {shape.params_nonembedding:,} | {shape.n_layer} x {shape.d_model} | {threads} "
            f"| {peak:.0f} | {plain_tps:,.0f} | {plain_tps * fpt / peak / 1e9:.0%} "
            f"| {ours_tps:,.0f} | {ours_tps * fpt / peak / 1e9:.0%} "
            f"| {ours_tps / plain_tps:.2f}x |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Two sizes, short timings, no record.")
    parser.add_argument("--seconds", type=float, default=None, help="Timed seconds per loop.")
    parser.add_argument("--no-record", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 8.0)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.worker:
        print("\n".join(measure(args.worker, sizes, seconds)))
        return

    lines = [
        "| N (non-emb) | n_layer x d_model | threads | peak GFLOP/s | plain tok/s | plain MFU "
        "| ours tok/s | ours MFU | ours / plain |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    for threads in (1, 2):
        # A fresh process per thread count: a pool that once had 2 threads keeps using them.
        env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        worker = [sys.executable, __file__, "--worker", str(threads), "--seconds", str(seconds)]
        output = subprocess.run(
            worker + (["--quick"] if args.quick else []),
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        lines.extend(line for line in output.splitlines() if line.startswith("|"))
    command = "python benchmarks/train_throughput.py" + (" --quick" if args.quick else "")
    markdown = "\n".join(
        [
            "## Training throughput (CPU, fp32)",
            "",
            f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, {platform.processor() or 'cpu'}, "
            f"{os.cpu_count()} cores, torch {torch.__version__}, load average {load:.1f} at the "
            "start). vocab 256, n_ctx 128, 8192 tokens per step, stdlib corpus. MFU counts 6N + "
            "attention + output layer per token against the measured matmul peak. *plain*: "
            "nanoGPT's model and loop; *ours*: `train_run` end to end, start-up, evaluations and "
            "logging included.",
            "",
            *lines,
        ]
    )
    if torch.cuda.is_available():
        markdown += "\n" + gpu_section(seconds)
    print(markdown)
    if not (args.quick or args.no_record):
        record_section("train", markdown)
        print("recorded in docs/benchmarks.md")


if __name__ == "__main__":
    main()
