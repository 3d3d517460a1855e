"""One writer per experiment folder.

A process that runs, resumes or deploys an experiment holds an exclusive lock on
``<folder>/nasforge.lock`` for as long as it works on the folder. The lock is an OS file lock
(``flock`` on POSIX, ``msvcrt.locking`` on Windows), so the operating system releases it when the
process ends in any way, ``kill -9`` included: a lock file left behind by a dead process is never
stale. The file holds the holder's PID and command, only to name it in the refusal.

Readers (``nasforge status``, ``nasforge report``) take no lock and open the database read-only,
so they work while a run holds the folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from nasforge.core.errors import UserError

LOCK_NAME = "nasforge.lock"


class ExperimentLocked(UserError):
    """Another live process holds the experiment folder."""


def _try_lock(fh: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class ExperimentLock:
    """Exclusive, process-lifetime lock of one experiment folder.

    ``acquire()`` raises :class:`ExperimentLocked` naming the holder's PID when another process
    holds it. Acquiring is re-entrant within one object; a second object (in the same or another
    process) is refused while the first holds the lock.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self, what: str = "work on") -> ExperimentLock:
        if self._fh is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        # "a+" never truncates: the holder's PID stays readable until we own the lock.
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
        if not _try_lock(fh):
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ExperimentLocked(
                f"cannot {what} {str(self.directory)!r}: it is in use by {holder}; wait for it to end or stop it "
                f"('nasforge status {self.directory}' works meanwhile)"
            )
        fh.seek(0)
        fh.truncate()
        fh.write(f"PID {os.getpid()} ({' '.join(sys.argv[:2]) or 'python'})")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()  # closing the descriptor releases the OS lock

    def __enter__(self) -> ExperimentLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
