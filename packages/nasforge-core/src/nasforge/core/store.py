"""The experiment store: one SQLite file per experiment folder.

Every trial state change is committed as it happens, together with the strategy's state, so
that a process killed at any moment (even ``kill -9``) loses no finished trial. Replay-format
strategy states are stored as an append-only log, so saving stays O(1) per trial.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasforge.core.errors import StorageError, UserError
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


def _reads(method: Any) -> Any:
    """Turn a database error while reading into a :class:`StorageError` naming the file."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise StorageError(_database_problem(self.path, exc)) from exc

    return wrapper


class Store:
    """Reads and writes one experiment's database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path, create: bool = False, read_only: bool = False) -> None:
        given = Path(path)
        path = given / DB_NAME if given.is_dir() else given
        if not create and not path.exists():
            where = given if not given.is_dir() else path.parent
            raise UserError(f"no nasforge experiment at {str(where)!r} (missing {DB_NAME}); give the folder 'nasforge run' printed")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.read_only = read_only
        self._log_len = 0
        try:
            if read_only:
                # Readers never write: mode=ro cannot create, convert or lock out a running writer.
                uri = path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
            else:
                # isolation_level=None: we open transactions explicitly, so each commit is deliberate.
                self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise UserError(f"cannot open {str(path)!r}: {exc}") from None
        try:
            if read_only:
                self._db.execute("PRAGMA query_only=ON")
                tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not {"meta", "trials"} <= tables:
                    raise sqlite3.DatabaseError("it holds no nasforge tables")
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
            if create and self.get_meta("schema_version") is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
            self._log_len = self._db.execute("SELECT COUNT(*) FROM strategy_log").fetchone()[0]
        except (sqlite3.DatabaseError, StorageError) as exc:
            self._db.close()
            cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ is not None else exc
            raise UserError(_database_problem(path, cause)) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes so they commit together (or not at all).

        A database error (disk full, read-only file, damaged page) rolls the group back and is
        raised as a :class:`StorageError` naming the file: what was committed before stays.
        """
        nested = self._db.in_transaction
        log_len = self._log_len
        try:
            if not nested:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if not nested and self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if not nested:
                self._db.execute("COMMIT")
        except BaseException as exc:
            self._log_len = log_len  # the appended log entries were not committed
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            if self._db.in_transaction and not nested:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise StorageError(_database_problem(self.path, exc)) from exc

    # -- meta ---------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    @_reads
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

    def finish_trial(self, trial: Trial, strategy_state: dict[str, Any] | None, untold: bool = False, elapsed: float | None = None) -> None:
        """Store a finished trial and the strategy state after it was told, atomically.

        ``untold=True`` stores the result before the strategy hears of it (see :meth:`mark_told`);
        ``elapsed`` saves the experiment's clock in the same commit, so a kill loses no time budget.
        """
        if not trial.state.is_finished():
            raise ValueError(f"trial {trial.number} is not finished ({trial.state.value})")
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET state = ?, metrics = ?, error = ?, artifacts = ?, finished_at = ? WHERE number = ?",
                (trial.state.value, json.dumps(dict(trial.metrics)), trial.error, json.dumps(dict(trial.artifacts)), trial.finished_at, trial.number),
            )
            if strategy_state is not None:
                self._save_strategy(db, strategy_state)
            if untold:
                self.set_meta("untold", sorted({*self.untold(), trial.number}))
            if elapsed is not None:
                self.set_meta("elapsed", elapsed)

    def mark_told(self, number: int, strategy_state: dict[str, Any]) -> None:
        """The strategy has been told finished trial ``number``: store its new state, atomically."""
        with self.transaction() as db:
            self._save_strategy(db, strategy_state)
            self.set_meta("untold", [n for n in self.untold() if n != number])

    def untold(self) -> list[int]:
        """Finished trials whose result the strategy has not been told yet (told first on resume)."""
        return list(self.get_meta("untold", []) or [])

    @_reads
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

    @_reads
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

    @_reads
    def strategy_state(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT state FROM strategy_snapshot WHERE id = 1").fetchone()
        if row is not None:
            return json.loads(row[0])
        entries = [json.loads(e) for (e,) in self._db.execute("SELECT entry FROM strategy_log ORDER BY seq")]
        return {"format": "replay", "log": entries} if entries else None


def _database_problem(path: Path, exc: BaseException) -> str:
    """One line saying why a database cannot be used, telling a damaged or foreign file from an unwritable one."""
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered or "permission" in lowered:
        return f"cannot write {str(path)!r} ({text}); check the permissions of the file and its folder, or use 'nasforge status' to read it"
    if "malformed" in lowered or "corrupt" in lowered:
        return f"{str(path)!r} is damaged ({text}); restore it from a backup or start a new experiment"
    if "disk is full" in lowered or "disk i/o" in lowered:
        return f"cannot write {str(path)!r}: {text}; free some space and resume"
    return f"{str(path)!r} is not a nasforge database: {text}"
