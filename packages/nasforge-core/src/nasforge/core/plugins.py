"""The plugin manager: loads built-ins and plugins the same way and keeps a registry of what they provide.

Loading order:

1. modules named in ``NASFORGE_PLUGINS`` (comma-separated) or passed as ``extra_plugins``;
2. entry points of group ``nasforge``. Entry points of nasforge's own distributions
   (``nasforge-*`` in :data:`FIRST_PARTY`) are the built-ins and always load; those of any other
   distribution load unless ``NASFORGE_DISABLE_PLUGIN_AUTOLOAD`` is set to a non-empty value.

After loading, :meth:`PluginManager.check` fails loudly on a hook implementation whose name
matches no hook (a misspelt hook would otherwise be ignored).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from nasforge.core import hookspecs
from nasforge.core.errors import PluginError, UnknownComponentError, UserError

ENTRY_POINT_GROUP = "nasforge"
DISABLE_AUTOLOAD_ENV = "NASFORGE_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "NASFORGE_PLUGINS"
FIRST_PARTY = frozenset({"nasforge-core", "nasforge-strategies", "nasforge-trainer", "nasforge-compression", "nasforge-export", "nasforge-deploy"})

#: Registry kinds and the provider hook that fills each.
KINDS: dict[str, str] = {
    "strategy": "nasforge_register_strategies",
    "evaluator": "nasforge_register_evaluators",
    "space": "nasforge_register_spaces",
    "model_builder": "nasforge_register_model_builders",
    "dataset": "nasforge_register_datasets",
    "compressor": "nasforge_register_compressors",
    "exporter": "nasforge_register_exporters",
    "deploy_adapter": "nasforge_register_deploy_adapters",
    "executor": "nasforge_register_executors",
    "command": "nasforge_register_commands",
}

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
    """One registered thing: its kind, name, the object, and which plugin provided it."""

    kind: str
    name: str
    obj: Any
    description: str
    plugin: PluginInfo

class PluginManager:
    """A typed facade over :class:`pluggy.PluginManager` with a registry of named components."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self._pm.add_hookspecs(hookspecs)
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
        self._info[name] = PluginInfo(name, distribution, version)
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
        hook = getattr(self._pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):  # registration order
            info = self._info.get(impl.plugin_name, PluginInfo(impl.plugin_name, "(unknown)", ""))

            def register(name: str, obj: Any, description: str = "", _info: PluginInfo = info) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {_info.name!r} ({_info.distribution}) registered a {kind} with an invalid name {name!r}")
                taken = found.get(name)
                if taken is not None:
                    raise PluginError(
                        f"{kind} name {name!r} is registered twice: by plugin {taken.plugin.name!r} ({taken.plugin.distribution}) "
                        f"and by plugin {_info.name!r} ({_info.distribution}); uninstall or rename one of them"
                    )
                found[name] = Component(kind, name, obj, description or _first_line(obj), _info)

            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {info.name!r} ({info.distribution}) failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
        return found

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

    # -- lifecycle ------------------------------------------------------------------------------
    def call_lifecycle(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook; an exception is re-raised naming the plugin that raised it."""
        hook = getattr(self._pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except UserError:
                raise  # a user mistake a plugin found (e.g. in its config section): exit code 2, as it says
            except Exception as exc:
                info = self._info.get(impl.plugin_name, PluginInfo(impl.plugin_name, "(unknown)", ""))
                raise PluginError(f"plugin {info.name!r} ({info.distribution}) raised in {hook_name}: {type(exc).__name__}: {exc}") from exc

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
