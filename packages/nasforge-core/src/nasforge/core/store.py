"""The experiment store: one SQLite file per experiment folder.

Every trial state change is committed as it happens, together with the strategy's state, so
that a process killed at any moment (even ``kill -9``) loses no finished trial. Replay-format
strategy states are stored as an append-only log, so saving stays O(1) per trial.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError
from nasforge.core.records import Architecture, Trial, TrialState

DB_NAME = "nasforge.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    architecture TEXT NOT NULL,
    state TEXT NOT NULL,
    fidelity REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    artifacts TEXT NOT NULL DEFAULT '{}',
    created_at REAL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS strategy_log (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS strategy_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
"""


class Store:
    """Reads and writes one experiment's database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path, create: bool = False, read_only: bool = False) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / DB_NAME
        if not create and not path.exists():
            raise UserError(f"no nasforge experiment at {str(path.parent)!r} (missing {DB_NAME}); give the folder 'nasforge run' printed")
        self.path = path
        if read_only:
            # For watchers (the live report): never writes, never takes a write lock.
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30)
            try:
                self._log_len = self._db.execute("SELECT COUNT(*) FROM strategy_log").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                self._db.close()
                raise UserError(f"{str(path)!r} is not a nasforge database: {exc}") from None
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions explicitly, so each commit is deliberate.
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise UserError(f"{str(path)!r} is not a nasforge database: {exc}") from None
        if create and self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        self._log_len = self._db.execute("SELECT COUNT(*) FROM strategy_log").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes so they commit together (or not at all)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- trials -------------------------------------------------------------------------------
    def add_trial(self, architecture: Architecture, fidelity: float | None, strategy_state: dict[str, Any]) -> Trial:
        """Record a newly proposed trial (pending) and the strategy state that proposed it, atomically."""
        now = time.time()
        with self.transaction() as db:
            number = db.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM trials").fetchone()[0]
            db.execute(
                "INSERT INTO trials(number, architecture, state, fidelity, created_at) VALUES (?, ?, ?, ?, ?)",
                (number, architecture.to_json(), TrialState.PENDING.value, fidelity, now),
            )
            self._save_strategy(db, strategy_state)
        return Trial(number=number, architecture=architecture, fidelity=fidelity, created_at=now)

    def mark_running(self, trial: Trial) -> Trial:
        started = time.time()
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET state = ?, started_at = ?, attempts = attempts + 1, error = NULL WHERE number = ?",
                (TrialState.RUNNING.value, started, trial.number),
            )
        return trial.evolve(state=TrialState.RUNNING, started_at=started, finished_at=None, error=None)

    def finish_trial(self, trial: Trial, strategy_state: dict[str, Any] | None) -> None:
        """Store a finished trial and the strategy state after it was told, atomically."""
        if not trial.state.is_finished():
            raise ValueError(f"trial {trial.number} is not finished ({trial.state.value})")
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET state = ?, metrics = ?, error = ?, artifacts = ?, finished_at = ? WHERE number = ?",
                (trial.state.value, json.dumps(dict(trial.metrics)), trial.error, json.dumps(dict(trial.artifacts)), trial.finished_at, trial.number),
            )
            if strategy_state is not None:
                self._save_strategy(db, strategy_state)

    def trials(self, states: tuple[TrialState, ...] | None = None) -> list[Trial]:
        rows = self._db.execute(
            "SELECT number, architecture, state, fidelity, metrics, error, artifacts, created_at, started_at, finished_at FROM trials ORDER BY number"
        ).fetchall()
        out = []
        for number, arch, state, fidelity, metrics, error, artifacts, created, started, finished in rows:
            trial = Trial(
                number=number,
                architecture=Architecture.from_json(arch),
                state=TrialState(state),
                metrics=json.loads(metrics),
                fidelity=fidelity,
                created_at=created,
                started_at=started,
                finished_at=finished,
                error=error,
                artifacts=json.loads(artifacts),
            )
            if states is None or trial.state in states:
                out.append(trial)
        return out

    def attempts(self, number: int) -> int:
        row = self._db.execute("SELECT attempts FROM trials WHERE number = ?", (number,)).fetchone()
        return 0 if row is None else int(row[0])

    # -- strategy state ---------------------------------------------------------------------------
    def _save_strategy(self, db: sqlite3.Connection, state: dict[str, Any]) -> None:
        if state.get("format") == "replay":
            log = state["log"]
            if len(log) < self._log_len:
                raise ValueError("the strategy's replay log shrank; refusing to overwrite the stored one")
            db.executemany(
                "INSERT INTO strategy_log(seq, entry) VALUES (?, ?)",
                [(i, json.dumps(entry)) for i, entry in enumerate(log[self._log_len :], start=self._log_len)],
            )
            self._log_len = len(log)
            db.execute("DELETE FROM strategy_snapshot")
        else:
            db.execute("INSERT OR REPLACE INTO strategy_snapshot(id, state) VALUES (1, ?)", (json.dumps(state),))

    def strategy_state(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT state FROM strategy_snapshot WHERE id = 1").fetchone()
        if row is not None:
            return json.loads(row[0])
        entries = [json.loads(e) for (e,) in self._db.execute("SELECT entry FROM strategy_log ORDER BY seq")]
        return {"format": "replay", "log": entries} if entries else None
