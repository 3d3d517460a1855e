"""The plugin manager: loads built-ins and plugins the same way and keeps a registry of what they provide.

Loading order:

1. modules named in ``NASFORGE_PLUGINS`` (comma-separated) or passed as ``extra_plugins``;
2. entry points of group ``nasforge``. Entry points of nasforge's own distributions
   (``nasforge-*`` in :data:`FIRST_PARTY`) are the built-ins and always load; those of any other
   distribution load unless ``NASFORGE_DISABLE_PLUGIN_AUTOLOAD`` is set to a non-empty value.

After loading, :meth:`PluginManager.check` fails loudly on a hook implementation whose name
matches no hook (a misspelt hook would otherwise be ignored).

Every hook is called through pluggy (``pm.hook.<name>(...)``), so ``tryfirst``/``trylast``,
``wrapper=True`` (and old-style ``hookwrapper``) implementations and call monitoring behave as in
pytest: implementations run last-registered first unless ordered otherwise. Each implementation is
wrapped when its plugin is registered, so an exception it raises names the plugin and its
distribution, and a provider hook's ``register`` callback knows which plugin is registering.
``NASFORGE_TRACE_HOOKS=1`` prints every hook call and its implementations to stderr.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.metadata as md
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from nasforge.core import hookspecs
from nasforge.core.errors import ConfigError, PluginError, UnknownComponentError, UserError
from nasforge.core.parsing import import_reference
from nasforge.core.registration import KINDS

ENTRY_POINT_GROUP = "nasforge"
DISABLE_AUTOLOAD_ENV = "NASFORGE_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "NASFORGE_PLUGINS"
TRACE_ENV = "NASFORGE_TRACE_HOOKS"
FIRST_PARTY = frozenset({"nasforge-core", "nasforge-strategies", "nasforge-torchutils", "nasforge-trainer", "nasforge-compression", "nasforge-export", "nasforge-deploy"})

#: Which distribution provides the first-party components, so a missing one can be named even
#: when that distribution is not installed (a no-torch install has no ``cnn`` space).
PROVIDERS: dict[str, dict[str, str]] = {
    "strategy": {n: "nasforge-strategies" for n in ("random", "grid", "evolution", "tpe", "reinforce", "local_search", "bananas", "nsga2", "successive_halving", "hyperband")},
    "evaluator": {"trainer": "nasforge-trainer", "nasbench201": "nasforge-nasbench201"},
    "space": {"cnn": "nasforge-trainer", "mlp": "nasforge-trainer", "nasbench201": "nasforge-nasbench201"},
    "model_builder": {"cnn": "nasforge-trainer", "mlp": "nasforge-trainer", "nasbench201": "nasforge-nasbench201"},
    "dataset": {"digits": "nasforge-trainer", "cifar10": "nasforge-trainer", "imagefolder": "nasforge-trainer"},
    "compressor": {n: "nasforge-compression" for n in ("magnitude", "channel", "depth", "distill", "qat")},
    "exporter": {n: "nasforge-export" for n in ("onnx", "onnx-int8", "onnx-fp16")},
    "executor": {"ray": "nasforge-ray"},
    "command": {"export": "nasforge-export", "bench": "nasforge-export", "compress": "nasforge-compression", "nni-oneshot": "nasforge-nni"},
}
#: Name prefixes of plugins' components (``optuna_tpe`` comes from nasforge-optuna).
PREFIX_PROVIDERS = {"optuna_": "nasforge-optuna", "nni_": "nasforge-nni", "nni-": "nasforge-nni"}


def provider_of(kind: str, name: str) -> str | None:
    """The distribution known to provide component ``name`` of ``kind``, if nasforge knows one."""
    found = PROVIDERS.get(kind, {}).get(name)
    if found is None:
        found = next((dist for prefix, dist in PREFIX_PROVIDERS.items() if name.startswith(prefix)), None)
    return found


def _provider_hint(kind: str, name: str, load_errors: list[str]) -> str:
    dist = provider_of(kind, name)
    if dist is None:
        return ""
    if _version(dist):
        broken = [m for m in load_errors if f"distribution {dist} " in m]
        return f"; {kind} {name!r} comes from {dist}, which is installed but did not load" + (f": {broken[0]}" if broken else "")
    return f"; {kind} {name!r} comes from the {dist} distribution, which is not installed: pip install {dist}"


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the others still are."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str

@dataclass(frozen=True)
class Component:
    """One registered thing: its kind, name, the object, and which plugin provided it.

    A plugin may register ``"package.module:attribute"`` instead of the object itself; it is
    imported the first time :attr:`obj` is read (so listing components, and ``nasforge --help``,
    need not import torch).
    """

    kind: str
    name: str
    target: Any
    description: str
    plugin: PluginInfo
    _resolved: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def obj(self) -> Any:
        """The registered object (imported now when it was registered by reference)."""
        if not isinstance(self.target, str):
            return self.target
        if not self._resolved:
            try:
                self._resolved.append(import_reference(self.target))
            except Exception as exc:
                raise PluginError(
                    f"plugin {self.plugin.name!r} ({self.plugin.distribution}) registered {self.kind} {self.name!r} as {self.target!r}, "
                    f"which cannot be imported: {type(exc).__name__}: {exc}"
                ) from exc
        return self._resolved[0]


#: The plugin whose hook implementation is running (read by provider hooks' ``register`` callbacks).
_CURRENT_PLUGIN: contextvars.ContextVar[PluginInfo | None] = contextvars.ContextVar("nasforge_current_plugin", default=None)


def _attributed(function: Callable[..., Any], info: PluginInfo, hook_name: str) -> Callable[..., Any]:
    """``function`` run with :data:`_CURRENT_PLUGIN` set to ``info``; its errors name the plugin."""

    def fail(exc: Exception) -> PluginError:
        return PluginError(f"plugin {info.name!r} ({info.distribution}) raised in {hook_name}: {type(exc).__name__}: {exc}")

    if inspect.isgeneratorfunction(function):  # wrapper=True / hookwrapper implementations

        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Any:
            token = _CURRENT_PLUGIN.set(info)
            try:
                return (yield from function(*args, **kwargs))
            finally:
                _CURRENT_PLUGIN.reset(token)

        return generator

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        token = _CURRENT_PLUGIN.set(info)
        try:
            return function(*args, **kwargs)
        except (UserError, PluginError):
            raise  # a user mistake a plugin found (exit code 2, as it says), or already attributed
        except Exception as exc:
            raise fail(exc) from exc
        finally:
            _CURRENT_PLUGIN.reset(token)

    return call

class PluginManager:
    """A typed facade over :class:`pluggy.PluginManager` with a registry of named components."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self._pm.add_hookspecs(hookspecs)
        if os.environ.get(TRACE_ENV, "") not in ("", "0"):
            self.trace_hooks()
        self._info: dict[str, PluginInfo] = {}
        self._registry: dict[str, dict[str, Component]] | None = None
        #: Messages of plugins that failed to load (see :meth:`load_entry_points`).
        self.load_errors: list[str] = []

    # -- loading ------------------------------------------------------------------------------
    @property
    def hook(self) -> Any:
        return self._pm.hook

    def register(self, plugin: object, name: str | None = None, distribution: str = "(local)", version: str = "") -> str:
        """Register one plugin object (a module or an instance with hook implementations)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if self._pm.has_plugin(name):
            raise PluginError(f"plugin {name!r} ({distribution}) is already registered by {self._info[name].distribution}")
        try:
            self._pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} from {distribution} is invalid: {exc}") from None
        info = self._info[name] = PluginInfo(name, distribution, version)
        for caller in self._pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    impl.function = _attributed(impl.function, info, caller.name)
        self._registry = None
        return name

    def unregister(self, name: str) -> None:
        self._pm.unregister(name=name)
        self._info.pop(name, None)
        self._registry = None

    def load_module(self, module_name: str, distribution: str = "(local)", version: str = "") -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(f"could not import plugin module {module_name!r}: {type(exc).__name__}: {exc}") from exc
        self.register(module, name=module_name, distribution=distribution, version=version)

    def load_entry_points(self, autoload: bool | None = None, strict: bool = False) -> None:
        """Load plugins from the ``nasforge`` entry-point group (see the module docstring).

        A plugin that fails to import is recorded in :attr:`load_errors` and reported with a
        :class:`PluginLoadWarning` (``strict=True`` raises :class:`PluginError` instead).
        """
        if autoload is None:
            autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.metadata["Name"] if ep.dist is not None else "(unknown)"
            version = ep.dist.version if ep.dist is not None else ""
            if dist not in FIRST_PARTY and not autoload:
                continue
            if self._pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name, distribution=dist, version=version)
            except Exception as exc:
                # One broken plugin must not take the others down: record it, name it, go on.
                message = f"plugin {ep.name!r} from distribution {dist} {version} failed to load: {type(exc).__name__}: {exc}"
                if strict:
                    raise PluginError(message) from exc
                self.load_errors.append(message)
                warnings.warn(message, PluginLoadWarning, stacklevel=2)

    def load_default(self, extra_plugins: Iterable[str] = ()) -> PluginManager:
        """Load the core's own plugin, named extra modules, then entry points; then check hooks."""
        from nasforge.core import builtin

        if not self._pm.has_plugin("nasforge.core"):
            self.register(builtin, name="nasforge.core", distribution="nasforge-core", version=_version("nasforge-core"))
        names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
        for module_name in [*names, *extra_plugins]:
            if not self._pm.has_plugin(module_name):
                self.load_module(module_name)
        self.load_entry_points()
        self.check()
        return self

    def check(self) -> None:
        """Fail on hook implementations that match no hook spec (usually a misspelt name)."""
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from None

    def plugins(self) -> list[PluginInfo]:
        return [self._info[name] for name, _ in self._pm.list_name_plugin() if name in self._info]

    # -- the registry -------------------------------------------------------------------------
    def _build_kind(self, kind: str) -> dict[str, Component]:
        """Ask every plugin's provider hook of one kind; a broken hook of another kind cannot get in the way."""
        found: dict[str, Component] = {}
        hook_name = KINDS[kind]
        unknown = PluginInfo("(unknown)", "(unknown)", "")

        def register(name: str, obj: Any, description: str = "") -> None:
            info = _CURRENT_PLUGIN.get() or unknown
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {info.name!r} ({info.distribution}) registered a {kind} with an invalid name {name!r}")
            taken = found.get(name)
            if taken is not None:
                raise PluginError(
                    f"{kind} name {name!r} is registered twice: by plugin {taken.plugin.name!r} ({taken.plugin.distribution}) "
                    f"and by plugin {info.name!r} ({info.distribution}); uninstall or rename one of them"
                )
            component = Component(kind, name, obj, description, info)
            if not description:
                component = Component(kind, name, obj, _first_line(component.obj), info)
            found[name] = component

        try:
            getattr(self._pm.hook, hook_name)(register=register)
        except PluginError as exc:
            raise PluginError(str(exc).replace(" raised in ", " failed in ", 1)) from exc.__cause__
        # list components in the order their plugins were registered, whatever order the hooks ran in
        order = {info.name: i for i, info in enumerate(self._info.values())}
        return dict(sorted(found.items(), key=lambda item: order.get(item[1].plugin.name, len(order))))

    @property
    def registry(self) -> dict[str, dict[str, Component]]:
        """Every kind's components (builds them all; prefer :meth:`components`)."""
        return {kind: self.components(kind) for kind in KINDS}

    def components(self, kind: str) -> dict[str, Component]:
        if kind not in KINDS:
            raise KeyError(f"unknown component kind {kind!r}; kinds: {sorted(KINDS)}")
        if self._registry is None:
            self._registry = {}
        if kind not in self._registry:
            self._registry[kind] = self._build_kind(kind)
        return self._registry[kind]

    def get(self, kind: str, name: str) -> Any:
        """The registered object, or an error listing what is available."""
        found = self.components(kind)
        if name not in found:
            available = ", ".join(sorted(found)) or "none"
            hint = _closest(name, found)
            provider = _provider_hint(kind, name, self.load_errors)
            broken = f" (note: {'; '.join(self.load_errors)})" if self.load_errors and "did not load" not in provider else ""
            raise UnknownComponentError(f"unknown {kind} {name!r}{hint}; available: {available}{provider}{broken}")
        return found[name].obj

    def create(self, kind: str, name: str, options: Mapping[str, Any] | None = None, args: tuple[Any, ...] = (), field: str | None = None) -> Any:
        """Construct the component ``name`` of ``kind`` as ``obj(*args, **options)``.

        Options are checked against the constructor's signature first: an unknown option (with a
        "did you mean"), a missing required one, or a constructor's ``TypeError``/``ValueError``
        is a :class:`~nasforge.core.errors.ConfigError` naming ``field`` (default ``<kind>.<name>``).
        """
        return instantiate(self.get(kind, name), tuple(args), dict(options or {}), field or f"{kind}.{name}", f"{kind.replace('_', ' ')} {name!r}")

    # -- lifecycle ------------------------------------------------------------------------------
    def call_lifecycle(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a lifecycle hook through pluggy (``pm.hook.<name>(**kwargs)``) and return its results.

        An exception is re-raised naming the plugin that raised it (a :class:`UserError` as it is).
        """
        return getattr(self._pm.hook, hook_name)(**kwargs)

    def trace_hooks(self, write: Callable[[str], Any] | None = None) -> Callable[[], None]:
        """Report every hook call and its implementations to ``write`` (default: stderr); returns an undo function.

        Switched on for every manager by ``NASFORGE_TRACE_HOOKS=1``.
        """
        out = write or (lambda line: print(line, file=sys.stderr, flush=True))

        def before(hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
            out(f"hook {hook_name}({', '.join(sorted(kwargs))}) -> {', '.join(impl.plugin_name for impl in reversed(impls)) or 'no implementation'}")

        def after(outcome: Any, hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
            error = outcome.exception
            out(f"hook {hook_name} {'raised ' + type(error).__name__ + ': ' + str(error) if error is not None else 'done'}")

        return self._pm.add_hookcall_monitoring(before, after)

def instantiate(cls: Any, args: tuple[Any, ...], options: dict[str, Any], field_name: str, label: str) -> Any:
    """Call ``cls(*args, **options)``, turning unknown or wrong options into a :class:`ConfigError`."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        params = list(sig.parameters.values())[len(args) :]
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        known = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        if not takes_any:
            for key in options:
                if key not in known:
                    import difflib

                    hint = difflib.get_close_matches(key, known, n=1)
                    did = f" (did you mean {hint[0]!r}?)" if hint else ""
                    raise ConfigError(f"{field_name}.{key}", f"unknown option for {label}{did}; it takes: {', '.join(known) or 'no options'}")
        missing = [p.name for p in params if p.default is inspect.Parameter.empty and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and p.name not in options]
        if missing:
            raise ConfigError(f"{field_name}.{missing[0]}", f"{label} needs option {missing[0]!r}")
    try:
        return cls(*args, **options)
    except UserError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(field_name, f"{label}: {exc}") from None


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""

def _closest(name: str, options: Iterable[str]) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""

def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return ""

_DEFAULT: PluginManager | None = None

def get_plugin_manager(extra_plugins: Iterable[str] = (), fresh: bool = False) -> PluginManager:
    """The process-wide manager with defaults loaded (``fresh=True`` builds a new one).

    Modules named in ``NASFORGE_PLUGINS`` or ``extra_plugins`` that the cached manager has not
    loaded yet are loaded on each call.
    """
    global _DEFAULT
    if fresh or _DEFAULT is None:
        manager = PluginManager().load_default(extra_plugins)
        if fresh:
            return manager
        _DEFAULT = manager
        return manager
    wanted = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()] + list(extra_plugins)
    for module_name in wanted:
        if not _DEFAULT._pm.has_plugin(module_name):
            _DEFAULT.load_module(module_name)
    return _DEFAULT
