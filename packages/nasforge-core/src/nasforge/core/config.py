"""The experiment config: YAML validated into typed pydantic models.

Every user mistake becomes one :class:`~nasforge.core.errors.ConfigError` naming the field
(``strategy.options.population_size``), never a traceback. See ``docs/config.md`` for the format.
"""

from __future__ import annotations

import difflib
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nasforge.core.errors import ConfigError

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|<|>|==)\s*([-+0-9.eE]+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentConfig(_Strict):
    """A registered component chosen by name, with its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class SpaceConfig(_Strict):
    """A registered space (``name`` + ``options``) or an inline one (``choices``), plus optional ``extra_choices``.

    ``extra_choices`` are appended to the space's own choices, e.g. a training setting the
    evaluator reads from each architecture (the trainer's ``corruption_augment``).
    """

    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    choices: list[dict[str, Any]] | None = None
    extra_choices: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _name_or_choices(self) -> SpaceConfig:
        if self.name is None and self.choices is None:
            raise ValueError("give either 'name' (a registered space) or 'choices' (an inline space)")
        if self.choices is not None and self.options:
            raise ValueError("'options' configure a registered space; an inline space takes only 'choices'")
        if self.choices is not None and len(self.choices) == 0:
            raise ValueError("'choices' is empty: a search space needs at least one choice")
        return self


class Objective(_Strict):
    """A metric to optimise and its direction."""

    metric: str
    direction: Literal["maximize", "minimize"] = "maximize"

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "maximize" else -1.0


class Constraint(_Strict):
    """``metric op value``, e.g. ``latency_ms <= 5``."""

    metric: str
    op: Literal["<=", ">=", "<", ">", "=="]
    value: float

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("the bound must be a finite number")
        return v

    def violation(self, metrics: dict[str, float]) -> float:
        """0 when satisfied, else how far off (inf when the metric is missing)."""
        if self.metric not in metrics:
            return float("inf")
        x = metrics[self.metric]
        if self.op in ("<=", "<"):
            ok = x <= self.value if self.op == "<=" else x < self.value
            return 0.0 if ok else max(x - self.value, 1e-12)
        if self.op in (">=", ">"):
            ok = x >= self.value if self.op == ">=" else x > self.value
            return 0.0 if ok else max(self.value - x, 1e-12)
        return 0.0 if x == self.value else abs(x - self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class Budget(_Strict):
    """When to stop: after ``trials`` finished trials and/or ``seconds`` of wall time."""

    trials: int | None = Field(default=20, ge=1)
    seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.trials is None and self.seconds is None:
            raise ValueError("set 'trials', 'seconds' or both; an experiment needs a limit")
        return self


class EarlyStoppingConfig(_Strict):
    """Stop hopeless trials from their learning curves (see nasforge.core.early_stopping)."""

    rule: Literal["median", "asha"]
    metric: str | None = None  # default: the first objective
    grace: int = Field(default=1, ge=1)
    eta: int = Field(default=3, ge=2)
    min_trials: int = Field(default=3, ge=1)


class ExperimentConfig(_Strict):
    """The whole experiment, as written in YAML."""

    name: str = "experiment"
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    plugins: list[str] = Field(default_factory=list)
    space: SpaceConfig
    strategy: ComponentConfig = ComponentConfig(name="evolution")
    evaluator: ComponentConfig
    objectives: list[Objective] = Field(default_factory=lambda: [Objective(metric="accuracy")], min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    budget: Budget = Budget()
    trial_timeout: float | None = Field(default=None, gt=0)
    executor: ComponentConfig = ComponentConfig(name="sequential")
    early_stopping: EarlyStoppingConfig | None = None
    #: Tell results and propose in trial-number order, so parallel workers give the same search.
    deterministic: bool = True
    output: str = "runs"
    #: Sections read by plugins after the search (see the compression and export packages).
    compress: Any = None
    export: Any = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", v):
            raise ValueError("use letters, digits, '.', '_' and '-' only (it names the experiment folder)")
        return v

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_shorthand(cls, v: Any) -> Any:
        # "accuracy" or "latency_ms:minimize" are accepted as shorthands.
        if isinstance(v, (str, dict)):
            v = [v]
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, str):
                    metric, _, direction = item.partition(":")
                    item = {"metric": metric.strip(), "direction": (direction.strip() or "maximize")}
                    item["direction"] = {"max": "maximize", "min": "minimize"}.get(item["direction"], item["direction"])
                out.append(item)
            return out
        return v

    @field_validator("constraints", mode="before")
    @classmethod
    def _parse_constraints(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, str):
                    m = _CONSTRAINT.match(item)
                    if not m:
                        raise ValueError(f"cannot read constraint {item!r}; write it like 'latency_ms <= 5'")
                    item = {"metric": m.group(1), "op": m.group(2), "value": float(m.group(3))}
                out.append(item)
            return out
        return v

    @model_validator(mode="after")
    def _distinct_objectives(self) -> ExperimentConfig:
        names = [o.metric for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objectives name a metric twice: {names}")
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=False), sort_keys=False)


def _fields_of(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = ExperimentConfig
    for part in path:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def _format_error(err: dict[str, Any]) -> ConfigError:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("function-" in p or p in ("str", "dict[str,any]"))))
    field = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = _fields_of(parent) if parent else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return ConfigError(field, f"unknown key{suggestion} Allowed here: {', '.join(allowed)}")
    if kind == "missing":
        return ConfigError(field, "is required but missing")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    got = err.get("input")
    if kind not in ("model_type",) and not isinstance(got, (dict, list)):
        message = f"{message} (got {got!r})"
    return ConfigError(field, message)


def validate_config(data: Any, source: str = "config") -> ExperimentConfig:
    """Validate a parsed YAML document; raise a :class:`ConfigError` naming the first wrong field.

    Every error found is listed in the message, one per line.
    """
    if data is None:
        raise ConfigError("", f"{source} is empty; see docs/config.md for the format")
    if not isinstance(data, dict):
        raise ConfigError("", f"{source} must be a YAML mapping of keys (name, space, strategy, evaluator, ...), got a {type(data).__name__}")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        errors = [_format_error(e) for e in exc.errors()]
        first = errors[0]
        if len(errors) > 1:
            more = "\n".join(f"  {e}" for e in errors[1:])
            raise ConfigError(first.field, f"{first.message}\n{more}") from None
        raise first from None


#: Limits on any YAML nasforge reads: a config is a few kilobytes; these stop "billion laughs"
#: alias bombs and pathological nesting before they cost time or memory.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_DEPTH = 50
MAX_YAML_ALIASES = 1_000
#: Values after expanding every alias (a shared list used twice counts twice).
MAX_YAML_NODES = 200_000


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that counts aliases and nesting while composing, before anything is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _YamlLimit(f"more than {MAX_YAML_ALIASES} aliases (*name)")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _YamlLimit(Exception):
    pass


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """How many values the node becomes once aliases are expanded (stops counting past ``limit``)."""
    sizes: dict[int, int] = {}
    # Children before parents, without recursion (the depth is already bounded, but be frugal).
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        if id(current) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if not expanded and children:
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(current)] = min(limit + 1, 1 + sum(sizes.get(id(c), 1) for c in children))
    return sizes[id(node)]


def safe_load_yaml(text: str, source: str) -> Any:
    """Parse YAML text safely and within bounds; raise a :class:`ConfigError` naming ``source``.

    Refused, before any value is built: more than :data:`MAX_YAML_BYTES` bytes, nesting deeper
    than :data:`MAX_YAML_DEPTH`, more than :data:`MAX_YAML_ALIASES` aliases, or more than
    :data:`MAX_YAML_NODES` values once aliases are expanded.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise ConfigError("", f"{source} is larger than {MAX_YAML_BYTES // 1000} kB; a nasforge config is a few kB")
    if re.search(r"(?:[\[{]\s*){" + str(MAX_YAML_DEPTH + 1) + "}", text):  # cheap check of the plainest bomb
        raise ConfigError("", f"{source} is refused: nested more than {MAX_YAML_DEPTH} levels deep")
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise _YamlLimit(f"expands to more than {MAX_YAML_NODES} values (aliases repeat shared parts)")
        return loader.construct_document(node)
    except _YamlLimit as exc:
        raise ConfigError("", f"{source} is refused: {exc}") from None
    except RecursionError:
        raise ConfigError("", f"{source} is refused: nested too deeply") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise ConfigError("", f"{source} is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML config file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("", f"config file {str(path)!r} does not exist")
    if path.is_dir():
        raise ConfigError("", f"{str(path)!r} is a folder; give a YAML config file (to resume an experiment folder, use 'nasforge resume')")
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError("", f"{str(path)!r} is larger than {MAX_YAML_BYTES // 1000} kB; a nasforge config is a few kB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read {str(path)!r}: {exc}") from None
    data = safe_load_yaml(text, repr(str(path)))
    if isinstance(data, dict) and "name" not in data:
        data["name"] = re.sub(r"[^A-Za-z0-9_.\-]", "-", path.stem) or "experiment"
    return validate_config(data, source=str(path))


def default_config() -> ExperimentConfig:
    """The built-in demo: a CNN space on scikit-learn's digits, regularized evolution, 20 trials."""
    text = resources.files("nasforge.core").joinpath("default.yaml").read_text(encoding="utf-8")
    return validate_config(yaml.safe_load(text), source="the built-in default config")
