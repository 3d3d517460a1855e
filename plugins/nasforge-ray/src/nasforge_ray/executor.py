"""The ``ray`` executor: trials run in long-lived Ray actors, on this machine or on a Ray cluster.

Each worker is one Ray actor that receives the evaluator once, calls its ``setup`` once and then
evaluates trial after trial, so start-up costs (importing torch costs about 300 MB and 2 s per
worker) are paid once per worker, not once per trial. The driver -- the process running
``nasforge run`` -- keeps the experiment's SQLite store, so ``nasforge resume`` works as with any
other executor.

A worker that dies (killed, out of memory, its node lost) is replaced; its trial is evaluated
again up to ``retries`` times and then fails with the reason, and the search goes on. A trial
still running :data:`~nasforge.core.executor.HARD_TIMEOUT_GRACE` seconds past its deadline has its
actor killed, like the built-in ``process`` executor does.

Locally (no ``address``) Ray is started with ``workers`` CPUs, usage statistics off, every Ray
process listening on the loopback interface only (127.0.0.1), token authentication on with a
random token made for this run (kept in the environment, never written to disk), and its temporary
folder inside the experiment folder (``<experiment>/ray``), so nothing is written to the home
directory. With ``address`` the cluster's own security settings apply; nasforge changes none of
them (see docs/ray.md for securing a cluster). Ray puts unix sockets in that folder and a socket
path may be at most 107 bytes long: when the experiment path is too long for that, a short folder
``/tmp/nfray-XXXX`` is used instead (and removed at shutdown); the choice is written to
``<experiment>/ray-tmpdir.txt``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from nasforge.core.errors import ConfigError, TrialFailed, TrialTimeout
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.executor import HARD_TIMEOUT_GRACE, Executor
from nasforge.core.records import Architecture

#: Environment Ray reads at start-up: no usage statistics sent.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}

#: Ray's switch that, when off, makes a new local instance use the loopback address as its node
#: address, so that its GCS, raylet, object manager and workers listen on 127.0.0.1 only. Ray reads
#: it when it is imported; :func:`prepare_local_ray` also sets the value Ray computed from it.
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def prepare_local_ray(ray: Any) -> None:
    """Make the next local ``ray.init`` listen on loopback only and require a random token.

    The token is made once per process and kept in ``RAY_AUTH_TOKEN`` (inherited by Ray's own
    processes, never written to disk). ``RAY_AUTH_MODE=disabled`` set by the user is respected.
    """
    os.environ[LOCAL_ONLY_ENV] = "0"
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    except Exception as exc:  # a Ray without this switch: refuse rather than listen on every interface
        raise ConfigError("executor.name", f"cannot keep this Ray version ({getattr(ray, '__version__', '?')}) on the loopback interface: {exc}") from None
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "disabled":
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    refresh_ray_auth(ray)


def refresh_ray_auth(ray: Any) -> None:
    """Make this process's Ray read ``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN`` again.

    Ray's driver reads its settings and caches its token once per process; a run that sets them
    (or a later run with other ones) must refresh both, as Ray's own token set-up does.
    """
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication: nothing to refresh
        return
    try:
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception as exc:
        raise ConfigError("executor.name", f"cannot apply Ray's authentication settings with this Ray version ({getattr(ray, '__version__', '?')}): {exc}") from None

#: Longest temp-dir path we give Ray: it appends about 60 bytes (session folder, socket name) and
#: unix socket paths may not exceed 107 bytes.
MAX_TEMP_DIR = 45


class _TrialWorker:
    """The body of a worker actor: holds the evaluator, set up once, and evaluates trials."""

    def __init__(self, evaluator: Evaluator, workdir: str, threads: int) -> None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        if "torch" in sys.modules:  # the evaluator's module imported it while being unpickled
            sys.modules["torch"].set_num_threads(threads)
        self.evaluator = evaluator
        self.evaluator.setup(Path(workdir))

    def pid(self) -> int:
        """The worker's process id (tests use it to kill a worker)."""
        return os.getpid()

    def evaluate(self, architecture: Architecture, context: TrialContext) -> tuple[str, Any]:
        """Evaluate one trial; errors come back as values so their type and message survive."""
        from nasforge.core.evaluator import evaluate_trial

        try:
            return ("ok", evaluate_trial(self.evaluator, architecture, context))
        except Exception as exc:
            import pickle

            try:
                pickle.dumps(exc)
            except Exception:
                exc = TrialFailed(f"{type(exc).__name__}: {exc}")
            return ("error", exc)

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
        """Run an arbitrary function (for :meth:`RayExecutor.submit`)."""
        try:
            return ("ok", fn(*args))
        except Exception as exc:
            return ("error", exc)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor.name", "the 'ray' executor needs Ray: pip install nasforge-ray (which depends on ray)") from None
    return ray


class RayExecutor(Executor):
    """Runs up to ``workers`` trials at once in Ray actors (one actor per worker, reused).

    :param workers: actors evaluating trials in parallel (default: CPUs of this machine, or of the
        cluster when ``address`` is given).
    :param address: an existing Ray cluster (``"ray://host:10001"``, ``"host:6379"`` or ``"auto"``);
        by default a private local Ray instance is started and stopped with the experiment.
    :param threads_per_worker: threads each worker's math libraries may use (default: CPUs / workers
        locally, ``cpus_per_worker`` on a cluster).
    :param cpus_per_worker: CPUs Ray reserves for each actor (default 1).
    :param gpus_per_worker: GPUs Ray reserves for each actor (default 0; fractions allowed).
    :param retries: how many times a trial whose worker died is evaluated again before it fails
        (default 0: it fails at once). Errors raised by the evaluator are never retried.
    :param runtime_env: Ray runtime environment for the actors (e.g. ``{"py_modules": [...]}`` so
        cluster nodes can import your evaluator); see Ray's documentation.
    :param temp_dir: Ray's temporary folder for a local instance (default ``<experiment>/ray``).
    """

    in_process = False
    kills_hung_trials = True

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        threads_per_worker: int | None = None,
        cpus_per_worker: float = 1,
        gpus_per_worker: float = 0,
        retries: int = 0,
        runtime_env: Mapping[str, Any] | None = None,
        temp_dir: str | None = None,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise ConfigError("executor.options.workers", f"must be a positive integer, got {workers!r}")
        if threads_per_worker is not None and (not isinstance(threads_per_worker, int) or isinstance(threads_per_worker, bool) or threads_per_worker < 1):
            raise ConfigError("executor.options.threads_per_worker", f"must be a positive integer, got {threads_per_worker!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ConfigError("executor.options.retries", f"must be a non-negative integer, got {retries!r}")
        for option, value in (("cpus_per_worker", cpus_per_worker), ("gpus_per_worker", gpus_per_worker)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"executor.options.{option}", f"must be a non-negative number, got {value!r}")
        if address is not None and temp_dir is not None:
            raise ConfigError("executor.options.temp_dir", "only applies to a local Ray instance; a cluster given by 'address' keeps its own")
        _import_ray()  # fail at config time, not after the experiment folder is made
        cpus = os.cpu_count() or 1
        self.address = address
        self.requested_workers = workers
        self.parallelism = workers or cpus
        self.requested_threads = threads_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.retries = retries
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.temp_dir = temp_dir
        self.threads = threads_per_worker or 1
        self._actors: list[Any] = []
        self._busy: list[bool] = []
        self._lock = threading.Lock()
        self._owns_ray = False
        self._scratch: str | None = None
        self._closed = False
        #: (trial number, message) for every worker death seen, for logs and tests.
        self.deaths: list[tuple[int, str]] = []

    # -- start and stop ----------------------------------------------------------------------------
    def _temp_dir_for(self, workdir: Path) -> str:
        wanted = Path(self.temp_dir) if self.temp_dir else workdir / "ray"
        wanted = wanted.resolve()
        if len(str(wanted)) <= MAX_TEMP_DIR:
            wanted.mkdir(parents=True, exist_ok=True)
            return str(wanted)
        self._scratch = tempfile.mkdtemp(prefix="nfray-", dir="/tmp" if os.path.isdir("/tmp") else None)
        note = (
            f"Ray's temporary folder is {self._scratch}: {wanted} is {len(str(wanted))} characters long and Ray's unix "
            f"sockets inside it would exceed the 107-byte limit (at most {MAX_TEMP_DIR} characters fit). It is removed when the run ends.\n"
        )
        (workdir / "ray-tmpdir.txt").write_text(note, encoding="utf-8")
        return self._scratch

    def start(self, workdir: Path, evaluator: Evaluator) -> None:
        """Start (or connect to) Ray and create one actor per worker, each setting up the evaluator."""
        super().start(workdir, evaluator)
        ray = _import_ray()
        for key, value in RAY_ENV.items():
            os.environ.setdefault(key, value)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False}
            if self.address is None:
                prepare_local_ray(ray)
                # Worker output is not echoed: it would garble the progress display (Ray keeps it in its logs).
                kwargs.update(
                    include_dashboard=False,
                    configure_logging=False,
                    num_cpus=int(max(1, self.parallelism * self.cpus_per_worker + 0.999)),
                    _temp_dir=self._temp_dir_for(self.workdir),
                )
            else:
                kwargs["address"] = self.address
                refresh_ray_auth(ray)  # connect with the cluster's authentication as the environment gives it
            ray.init(**kwargs)
            self._owns_ray = True
        if self.requested_workers is None and self.address is not None:
            self.parallelism = max(1, int(ray.cluster_resources().get("CPU", 1) // max(self.cpus_per_worker, 1e-9)))
        if self.requested_threads is None:
            if self.address is None:
                self.threads = max(1, (os.cpu_count() or 1) // self.parallelism)
            else:
                self.threads = max(1, int(self.cpus_per_worker))
        self._remote_cls = ray.remote(_TrialWorker)
        self._evaluator_ref = ray.put(evaluator)
        self._actors = [self._new_actor() for _ in range(self.parallelism)]
        self._busy = [False] * self.parallelism
        # Wait for every setup: a broken evaluator fails the run here, with its message.
        ray.get([actor.pid.remote() for actor in self._actors])

    def _new_actor(self) -> Any:
        options: dict[str, Any] = {"num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker, "max_restarts": 0, "max_concurrency": 1}
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        return self._remote_cls.options(**options).remote(self._evaluator_ref, str(self.workdir), self.threads)

    def worker_pids(self) -> list[int]:
        """Process ids of the current worker actors."""
        ray = _import_ray()
        return ray.get([actor.pid.remote() for actor in self._actors])

    def shutdown(self) -> None:
        """Kill the actors; stop Ray if this executor started it; remove a scratch temp dir."""
        if self._closed:
            return
        self._closed = True
        ray = _import_ray()
        with self._lock:
            actors, self._actors = self._actors, []
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:
                pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)

    # -- running trials -------------------------------------------------------------------------------
    def _claim(self) -> int:
        with self._lock:
            index = next((i for i, busy in enumerate(self._busy) if not busy), None)
            if index is None:
                raise RuntimeError(f"all {self.parallelism} Ray workers are busy; the loop keeps at most 'parallelism' trials in flight")
            self._busy[index] = True
            return index

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        """Run ``fn(*args)`` in a free worker actor (``fn`` must be importable or picklable there)."""
        index = self._claim()
        future: Future = Future()
        threading.Thread(target=self._drive, args=(index, lambda actor: actor.run.remote(fn, args), None, 0, future, -1), daemon=True).start()
        return future

    def submit_trial(self, architecture: Architecture, context: TrialContext) -> Future:
        """Evaluate one trial in a free worker actor; the future holds its EvaluationResult."""
        index = self._claim()
        future: Future = Future()
        call = lambda actor: actor.evaluate.remote(architecture, context)  # noqa: E731
        threading.Thread(target=self._drive, args=(index, call, context.timeout, self.retries, future, context.number), daemon=True).start()
        return future

    def _drive(self, index: int, call: Callable[[Any], Any], timeout: float | None, retries: int, future: Future, number: int) -> None:
        ray = _import_ray()
        from ray.exceptions import GetTimeoutError, RayActorError

        attempt = 0
        while True:
            with self._lock:
                actor = self._actors[index] if index < len(self._actors) else None
            if actor is None:  # shut down meanwhile
                future.set_exception(TrialFailed("the Ray executor was shut down while this trial waited"))
                return
            ref = call(actor)
            hard_deadline = None if timeout is None else time.time() + timeout + HARD_TIMEOUT_GRACE
            dead: BaseException | None = None
            outcome: tuple[str, Any] | None = None
            while outcome is None and dead is None:
                wait_for = 1.0 if hard_deadline is None else max(0.01, min(1.0, hard_deadline - time.time()))
                try:
                    outcome = ray.get(ref, timeout=wait_for)
                except GetTimeoutError:
                    if hard_deadline is not None and time.time() > hard_deadline:
                        dead = TrialTimeout(f"trial exceeded its time limit; its Ray worker was killed {HARD_TIMEOUT_GRACE:g} s past the deadline")
                    elif self._closed:
                        dead = TrialFailed("the Ray executor was shut down while this trial ran")
                except RayActorError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    dead = TrialFailed(f"Ray worker died while evaluating this trial ({type(exc).__name__}: {first})")
                except Exception as exc:  # e.g. the result could not be deserialised
                    outcome = ("error", TrialFailed(f"{type(exc).__name__}: {exc}"))
            if dead is None:
                with self._lock:
                    if index < len(self._busy):
                        self._busy[index] = False
                if outcome[0] == "ok":
                    future.set_result(outcome[1])
                else:
                    future.set_exception(outcome[1])
                return
            # The worker is dead or hung: replace it, then retry the trial or fail it.
            self.deaths.append((number, str(dead)))
            try:
                ray.kill(actor)
            except Exception:
                pass
            if self._closed:
                future.set_exception(dead)
                return
            replacement = self._new_actor()
            with self._lock:
                if index < len(self._actors):
                    self._actors[index] = replacement
            if isinstance(dead, TrialTimeout) or attempt >= retries:
                with self._lock:
                    if index < len(self._busy):
                        self._busy[index] = False
                if attempt:
                    dead = type(dead)(f"{dead} (after {attempt} retr{'y' if attempt == 1 else 'ies'})")
                future.set_exception(dead)
                return
            attempt += 1
