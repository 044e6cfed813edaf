"""The results store: one SQLite file holding every sweep's runs and measurements.

Why SQLite: one file, no server, atomic transactions, and readers (`scalinglab status`) that never
block the writer in WAL mode. The rules that make it crash-safe:

- A run is keyed by the hash of its full config, so launching a sweep again finds what is done.
- A run's result (status, timings, measurements, per-position losses, accuracies) is written in
  one transaction: after `kill -9` it is either all there or not at all, and a run is `done` only
  if its rows are. Rows have primary keys, so nothing can be written twice.
- Only one driver writes a store at a time, holding a lease (owner, pid, host, heartbeat). A second
  driver gets a clear message; a dead driver's lease is taken over (at once on the same host,
  after `LEASE_TTL_SECONDS` without a heartbeat from another host).
- The schema carries a version; an older or newer store, or a corrupted file, is refused with a
  message saying what to do.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalinglabError

SCHEMA_VERSION = 1
DEFAULT_STORE = Path("scalinglab.db")
LEASE_TTL_SECONDS = 60.0
STATUSES = ("pending", "running", "done", "diverged", "failed")
FINISHED = ("done", "diverged")
MEASUREMENT_COLUMNS = ("run", "family", "params", "params_nonembedding", "tokens", "flops", "loss",
                       "seed", "lr", "final", "split")

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sweeps (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, design_json TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE runs (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, config_json TEXT NOT NULL,
    family TEXT NOT NULL, planned_flops REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    corpus_fingerprint TEXT, params REAL, params_nonembedding REAL, flops_per_token REAL,
    tokens_done REAL, loss_latest REAL, tokens_per_second REAL, seconds REAL,
    started REAL, finished REAL, updated REAL, host TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT);
CREATE TABLE sweep_runs (
    sweep TEXT NOT NULL REFERENCES sweeps(name), run_hash TEXT NOT NULL REFERENCES runs(hash),
    position INTEGER NOT NULL, PRIMARY KEY (sweep, run_hash));
CREATE TABLE measurements (
    run_hash TEXT NOT NULL REFERENCES runs(hash), row INTEGER NOT NULL,
    run TEXT, family TEXT, params REAL, params_nonembedding REAL, tokens REAL, flops REAL,
    loss REAL, seed INTEGER, lr REAL, final INTEGER, split TEXT, extra_json TEXT,
    PRIMARY KEY (run_hash, row));
CREATE TABLE position_losses (
    run_hash TEXT NOT NULL REFERENCES runs(hash), position INTEGER NOT NULL, loss REAL,
    PRIMARY KEY (run_hash, position));
CREATE TABLE accuracies (
    run_hash TEXT NOT NULL REFERENCES runs(hash), name TEXT NOT NULL, value REAL,
    PRIMARY KEY (run_hash, name));
CREATE TABLE lease (
    id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL, sweep TEXT, host TEXT NOT NULL,
    pid INTEGER NOT NULL, acquired REAL NOT NULL, heartbeat REAL NOT NULL);
INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""


@dataclass(frozen=True)
class PlannedRun:
    """A run as the store registers it before training: hash, name, config, planned FLOPs."""

    hash: str
    name: str
    config: dict[str, Any]
    planned_flops: float


# Per-sequence losses of a run (`RunConfig.sequence_losses`) are kept in the accuracies table,
# the store's named per-run values, as "sequence_loss:<split>:<window>" (split: train, val).
SEQUENCE_LOSS = "sequence_loss"


@dataclass
class RunRecord:
    """A finished (or diverged, interrupted, failed) run, as the driver writes it in one
    transaction. `failed` (with `error`) is a run that ran and failed: a trainer command that
    exited non-zero or wrote a metrics file that cannot be read."""

    status: str  # done | diverged | interrupted | failed
    measurements: pd.DataFrame
    position_losses: pd.DataFrame = field(default_factory=pd.DataFrame)
    accuracy: dict[str, float] = field(default_factory=dict)
    params: float | None = None
    params_nonembedding: float | None = None
    flops_per_token: float | None = None
    tokens_per_second: float | None = None
    seconds: float | None = None
    corpus_fingerprint: str | None = None
    host: str | None = None
    error: str | None = None


class Store:
    """An open results store (see the module doc). Use as a context manager."""

    def __init__(self, path: str | Path = DEFAULT_STORE, create: bool = True) -> None:
        self.path = Path(path)
        self.create = create
        self.owner = uuid.uuid4().hex
        if not self.path.exists() and not create:
            raise ScalinglabError(f"{self.path}: no such store (run a sweep first, or --store)")
        try:
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as error:
            raise ScalinglabError(f"{self.path}: cannot open the store ({error})") from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise ScalinglabError(
                f"{self.path}: not a readable scalinglab store (corrupted or not SQLite: {error}); "
                "move it aside and rerun the sweep with a new --store"
            ) from None
        except ScalinglabError:
            self.db.close()
            raise

    # --- opening ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Check integrity and schema version; create the schema in a new file."""
        self.db.execute("PRAGMA busy_timeout = 30000")
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        check = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check}")
        if not tables and not self.create:
            raise ScalinglabError(
                f"{self.path}: an empty file, not a scalinglab store (yet); a reader leaves it "
                "as it is: run a sweep into it first, or choose another --store")
        if not tables:
            self.db.execute("PRAGMA journal_mode = WAL")
            with self.transaction() as db:
                # Re-checked inside the write lock: another process may have just created it.
                if db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
            tables = {"meta"}
        elif "meta" not in tables:
            raise ScalinglabError(
                f"{self.path}: an SQLite file but not a scalinglab store "
                f"(tables: {', '.join(sorted(tables))}); choose another --store"
            )
        version = int(self.db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
        if version < SCHEMA_VERSION:
            raise ScalinglabError(
                f"{self.path}: store schema version {version} was written by an older scalinglab; "
                f"this one reads version {SCHEMA_VERSION}. Export its measurements with the "
                "version that wrote it, or start a new store with --store"
            )
        if version > SCHEMA_VERSION:
            raise ScalinglabError(
                f"{self.path}: store schema version {version} was written by a newer scalinglab; "
                f"this one reads version {SCHEMA_VERSION}. Upgrade scalinglab to read it"
            )
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: `BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any error.

        A full disk is one line ("disk full at PATH"); the store keeps its last commit and a
        rerun resumes once space is freed.
        """
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if "full" in str(error).lower():
                raise ScalinglabError(
                    f"disk full at {self.path}; the store keeps its last commit: free some space "
                    "and run the same command to resume") from None
            raise

    # --- the driver's lease -------------------------------------------------------------------

    def acquire_lease(self, sweep: str) -> None:
        """Become the store's only writer, or raise naming the driver that holds it."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT owner, sweep, host, pid, heartbeat FROM lease").fetchone()
            if row is not None and row[0] != self.owner:
                _, other_sweep, host, pid, heartbeat = row
                if _lease_alive(host, pid, now - heartbeat):
                    raise ScalinglabError(
                        f"{self.path}: in use by sweep {other_sweep!r} (pid {pid} on {host}, "
                        f"heartbeat {now - heartbeat:.0f} s ago); wait for it to finish, stop it, "
                        "or use another --store"
                    )
            db.execute(
                "INSERT OR REPLACE INTO lease VALUES (1, ?, ?, ?, ?, ?, ?)",
                (self.owner, sweep, socket.gethostname(), os.getpid(), now, now),
            )

    def heartbeat(self) -> None:
        """Refresh the lease; raise if another driver has taken it over."""
        with self.transaction() as db:
            updated = db.execute(
                "UPDATE lease SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner)
            ).rowcount
        if not updated:
            raise ScalinglabError(f"{self.path}: another sweep driver took over this store")

    def release_lease(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM lease WHERE owner = ?", (self.owner,))

    def lease(self) -> dict[str, Any] | None:
        """Who drives the store now (sweep, host, pid, heartbeat age), or None."""
        row = self.db.execute("SELECT sweep, host, pid, heartbeat FROM lease").fetchone()
        if row is None:
            return None
        age = time.time() - row[3]
        return {"sweep": row[0], "host": row[1], "pid": row[2], "heartbeat_age_seconds": age,
                "alive": _lease_alive(row[1], row[2], age)}

    # --- sweeps and runs ----------------------------------------------------------------------

    def register_sweep(self, name: str, kind: str, design: dict[str, Any],
                       runs: list[PlannedRun]) -> int:
        """Record a sweep and its runs (new runs `pending`); return how many runs were new.

        A run already in the store (same config hash, from this or any sweep) is reused, so a
        relaunched sweep skips what is done. The sweep's run list becomes exactly `runs`.
        """
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "kind = excluded.kind, design_json = excluded.design_json, "
                "updated = excluded.updated",
                (name, kind, json.dumps(design, sort_keys=True), now, now),
            )
            new = 0
            for run in runs:
                new += db.execute(
                    "INSERT OR IGNORE INTO runs (hash, name, config_json, family, planned_flops, "
                    "status, updated) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                    (run.hash, run.name, json.dumps(run.config, sort_keys=True),
                     str(run.config.get("family", "")), run.planned_flops, now),
                ).rowcount
            db.execute("DELETE FROM sweep_runs WHERE sweep = ?", (name,))
            db.executemany(
                "INSERT INTO sweep_runs VALUES (?, ?, ?)",
                [(name, run.hash, i) for i, run in enumerate(runs)],
            )
        return new

    def sweeps(self) -> pd.DataFrame:
        """One row per sweep: runs by status, FLOPs planned and done."""
        query = """
            SELECT s.name AS sweep, s.kind, COUNT(r.hash) AS runs,
                   SUM(r.status = 'done') AS done, SUM(r.status = 'running') AS running,
                   SUM(r.status = 'pending') AS pending, SUM(r.status = 'diverged') AS diverged,
                   SUM(r.status = 'failed') AS failed, SUM(r.planned_flops) AS planned_flops,
                   SUM(CASE WHEN r.status IN ('done', 'diverged') THEN r.planned_flops
                            ELSE MIN(COALESCE(r.tokens_done * r.flops_per_token, 0),
                                     r.planned_flops) END) AS flops_done,
                   s.updated
            FROM sweeps s LEFT JOIN sweep_runs sr ON sr.sweep = s.name
            LEFT JOIN runs r ON r.hash = sr.run_hash GROUP BY s.name ORDER BY s.updated"""
        return pd.read_sql_query(query, self.db)

    def runs(self, sweep: str | None = None) -> pd.DataFrame:
        """The runs table (one row per run), in the sweep's order when `sweep` is given."""
        if sweep is None:
            return pd.read_sql_query("SELECT * FROM runs ORDER BY name", self.db)
        self._require_sweep(sweep)
        return pd.read_sql_query(
            "SELECT r.* FROM runs r JOIN sweep_runs sr ON sr.run_hash = r.hash "
            "WHERE sr.sweep = ? ORDER BY sr.position", self.db, params=(sweep,))

    def _require_sweep(self, sweep: str) -> None:
        if self.db.execute("SELECT 1 FROM sweeps WHERE name = ?", (sweep,)).fetchone() is None:
            known = [r[0] for r in self.db.execute("SELECT name FROM sweeps ORDER BY name")]
            raise ScalinglabError(
                f"{self.path}: no sweep named {sweep!r}; known: {', '.join(known) or 'none'}")

    def reset_interrupted(self) -> int:
        """`running` rows left by a dead driver go back to `pending` (their checkpoints stay)."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE runs SET status = 'pending', updated = ? WHERE status = 'running'",
                (time.time(),)).rowcount

    def mark_running(self, run_hash: str, host: str | None = None) -> None:
        with self.transaction() as db:
            now = time.time()
            db.execute(
                "UPDATE runs SET status = 'running', started = COALESCE(started, ?), updated = ?, "
                "host = COALESCE(?, host), attempts = attempts + 1, error = NULL WHERE hash = ?",
                (now, now, host, run_hash))

    def record_progress(self, run_hash: str, tokens: float, loss: float | None,
                        tokens_per_second: float | None, flops_per_token: float | None) -> None:
        """Live progress of a running run, for `scalinglab status` in another terminal."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET tokens_done = ?, loss_latest = ?, tokens_per_second = ?, "
                "flops_per_token = COALESCE(?, flops_per_token), updated = ? "
                "WHERE hash = ? AND status = 'running'",
                (tokens, _finite(loss), tokens_per_second, flops_per_token, time.time(), run_hash))

    def mark_pending(self, run_hash: str) -> None:
        """An interrupted run: back to `pending`, to resume from its checkpoint next time."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = 'pending', updated = ? WHERE hash = ?",
                       (time.time(), run_hash))

    def mark_failed(self, run_hash: str, error: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = 'failed', error = ?, updated = ? WHERE hash = ?",
                       (error[-4000:], time.time(), run_hash))

    def record_result(self, run_hash: str, record: RunRecord) -> None:
        """Write a finished run and all its rows in one transaction (see the module doc)."""
        if record.status == "interrupted":
            self.mark_pending(run_hash)
            return
        if record.status == "failed":
            self.mark_failed(run_hash, record.error or "failed")
            return
        if record.status not in FINISHED:
            raise ValueError(f"unknown run status {record.status!r}")
        now = time.time()
        table = record.measurements.reset_index(drop=True)
        last = table.iloc[-1] if len(table) else None
        with self.transaction() as db:
            for name in ("measurements", "position_losses", "accuracies"):
                db.execute(f"DELETE FROM {name} WHERE run_hash = ?", (run_hash,))
            db.executemany(
                f"INSERT INTO measurements VALUES ({', '.join('?' * 14)})",
                [_measurement_row(run_hash, i, row)
                 for i, row in enumerate(table.to_dict("records"))],
            )
            if len(record.position_losses):
                db.executemany(
                    "INSERT INTO position_losses VALUES (?, ?, ?)",
                    [(run_hash, int(p), _finite(v)) for p, v in zip(
                        record.position_losses["position"], record.position_losses["loss"],
                        strict=True)])
            db.executemany(
                "INSERT INTO accuracies VALUES (?, ?, ?)",
                [(run_hash, k, _finite(v)) for k, v in record.accuracy.items()])
            db.execute(
                "UPDATE runs SET status = ?, corpus_fingerprint = ?, params = ?, "
                "params_nonembedding = ?, flops_per_token = ?, tokens_per_second = ?, seconds = ?, "
                "tokens_done = ?, loss_latest = ?, finished = ?, updated = ?, "
                "host = COALESCE(?, host), error = NULL WHERE hash = ?",
                (record.status, record.corpus_fingerprint, record.params,
                 record.params_nonembedding, record.flops_per_token, record.tokens_per_second,
                 record.seconds, None if last is None else float(last["tokens"]),
                 None if last is None else _finite(last["loss"]), now, now, record.host,
                 run_hash))

    # --- reading results ----------------------------------------------------------------------

    def measurements(self, sweep: str, include_diverged: bool = False) -> pd.DataFrame:
        """The measurements table of a sweep's finished runs, with extra columns expanded."""
        self._require_sweep(sweep)
        statuses = ("done", "diverged") if include_diverged else ("done",)
        table = pd.read_sql_query(
            "SELECT m.*, r.hash AS config_hash, r.corpus_fingerprint FROM measurements m "
            "JOIN runs r ON r.hash = m.run_hash JOIN sweep_runs sr ON sr.run_hash = r.hash "
            f"WHERE sr.sweep = ? AND r.status IN ({', '.join('?' * len(statuses))}) "
            "ORDER BY sr.position, m.row", self.db, params=(sweep, *statuses))
        extras = [json.loads(e) if e else {} for e in table.pop("extra_json")]
        table = table.drop(columns=["run_hash", "row"])
        if extras and any(extras):
            extra = pd.DataFrame(extras, index=table.index)
            table = pd.concat([table, extra.drop(columns=table.columns, errors="ignore")], axis=1)
        if "final" in table:
            table["final"] = table["final"].astype("boolean")
        return table

    def position_losses(self, sweep: str) -> pd.DataFrame:
        """Loss by context position of a sweep's runs (`run` as in `measurements`)."""
        self._require_sweep(sweep)
        return pd.read_sql_query(
            f"SELECT {_RUN_ID} AS run, p.position, p.loss FROM position_losses p "
            "JOIN runs r ON r.hash = p.run_hash JOIN sweep_runs sr ON sr.run_hash = r.hash "
            "WHERE sr.sweep = ? ORDER BY sr.position, p.position", self.db, params=(sweep,))

    def accuracies(self, sweep: str) -> pd.DataFrame:
        """Accuracies of a sweep's runs (`run` as in `measurements`)."""
        self._require_sweep(sweep)
        return pd.read_sql_query(
            f"SELECT {_RUN_ID} AS run, a.name, a.value FROM accuracies a "
            "JOIN runs r ON r.hash = a.run_hash JOIN sweep_runs sr ON sr.run_hash = r.hash "
            "WHERE sr.sweep = ? ORDER BY sr.position, a.name", self.db, params=(sweep,))


# A run's id as its measurement rows give it (the training engine's run name), else the store's.
_RUN_ID = ("COALESCE((SELECT m.run FROM measurements m WHERE m.run_hash = r.hash AND m.row = 0), "
           "r.name)")


def _measurement_row(run_hash: str, index: int, row: dict[str, Any]) -> tuple[Any, ...]:
    """One measurements row: the known columns, anything else as JSON in `extra_json`."""
    extra = {k: _plain(v) for k, v in row.items() if k not in MEASUREMENT_COLUMNS}
    values = [_plain(row.get(c)) for c in MEASUREMENT_COLUMNS]
    final = values[MEASUREMENT_COLUMNS.index("final")]
    values[MEASUREMENT_COLUMNS.index("final")] = None if final is None else int(bool(final))
    values[MEASUREMENT_COLUMNS.index("loss")] = _finite(values[MEASUREMENT_COLUMNS.index("loss")])
    return (run_hash, index, *values, json.dumps(extra, sort_keys=True) if extra else None)


def _plain(value: Any) -> Any:
    """numpy scalars to Python, NaN/NA to None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _finite(value: Any) -> float | None:
    value = _plain(value)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _lease_alive(host: str, pid: int, age_seconds: float) -> bool:
    """Is the lease holder alive? On this host ask the OS; elsewhere trust a recent heartbeat."""
    if host != socket.gethostname():
        return age_seconds < LEASE_TTL_SECONDS
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """True if process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
