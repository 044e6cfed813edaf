"""Sweeps: many training runs from one design, kept in a crash-safe store, run in parallel.

- `design`: what to run (grid, isoflop, curves, scan), from a TOML file or a preset.
- `store`: the SQLite results store (runs, measurements, per-position losses, accuracies).
- `executors`: how to run it (a local pool of worker processes, or Ray tasks on a cluster);
  `slurm`: as Slurm jobs through submitit.
- `command`: a researcher's own trainer as the runs (`command_task`), and its contract.
- `driver`: the loop tying them together: skip what is done, resume what was interrupted.
"""
