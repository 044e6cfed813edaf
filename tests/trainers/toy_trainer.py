"""A toy trainer for the sweep tests: a researcher's own training script, as the lab runs it.

It "trains" by evaluating a known law at evenly spaced token counts,

    L(N, D) = (1.8 + 400 / N^0.34 + 2000 / D^0.28) * (1 + 0.05 ln(lr / 3e-3)^2)
              * (1 + 0.01 / width_mult) * (1 + 0.002 u(seed)),      u(seed) in [-0.5, 0.5)

appending one JSON line per evaluation to OUT/metrics.jsonl, sleeping a little between them
(so a kill lands mid-run), and checkpointing its position to OUT/ckpt.json every other
evaluation; with --resume 1 it continues from that checkpoint, so it logs again the evaluations
made after its last checkpoint. It refuses a learning rate above 0.1 (exit 1, a message on
stderr) and, with --backwards 1, logs tokens that go backwards.
"""

import argparse
import json
import math
import os
import sys
import time
import zlib

EVALUATIONS = 8


def loss(params: float, tokens: float, lr: float, width_mult: float, seed: int) -> float:
    noise = (zlib.crc32(str(seed).encode()) % 1000) / 1000 - 0.5
    law = 1.8 + 400 / params**0.34 + 2000 / tokens**0.28
    return law * (1 + 0.05 * math.log(lr / 3e-3) ** 2) * (1 + 0.01 / width_mult) \
        * (1 + 0.002 * noise)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", type=float, required=True)
    parser.add_argument("--tokens", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--resume", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--backwards", type=int, default=0)
    args = parser.parse_args()

    checkpoint = os.path.join(args.out, "ckpt.json")
    start = 0
    if args.resume and os.path.exists(checkpoint):
        with open(checkpoint) as file:
            start = json.load(file)["evaluation"]
    print(f"toy_trainer: N={args.params:g} D={args.tokens:g} from evaluation {start}", flush=True)
    metrics = os.open(os.path.join(args.out, "metrics.jsonl"),
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for k in range(start, EVALUATIONS):
        time.sleep(args.sleep)
        if k == 2 and args.lr > 0.1:
            print(f"toy_trainer: lr {args.lr:g} is above 0.1: the loss would diverge",
                  file=sys.stderr, flush=True)
            return 1
        tokens = args.tokens * (k + 1) / EVALUATIONS
        if args.backwards and k == 4:
            tokens = args.tokens / EVALUATIONS
        row = {"step": k + 1, "tokens": tokens,
               "loss": loss(args.params, tokens, args.lr, args.width_mult, args.seed),
               "acc_toy": round(1 - 1 / (k + 2), 6)}
        os.write(metrics, (json.dumps(row) + "\n").encode())  # one write: a whole line
        if k % 2 == 1:
            with open(checkpoint + ".tmp", "w") as file:
                json.dump({"evaluation": k + 1}, file)
            os.replace(checkpoint + ".tmp", checkpoint)
    os.close(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
