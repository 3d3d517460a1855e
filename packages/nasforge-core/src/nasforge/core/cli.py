"""The ``nasforge`` command line.

Core commands (``run``, ``resume``, ``status``, ``plugins``) are registered through the same
``nasforge_register_commands`` hook that other packages use to add theirs (``compress``,
``export``, ``bench`` ...). A user mistake prints one line starting with ``error:`` and exits
with code 2; an interrupted run exits with 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nasforge.core.errors import NasforgeError, PluginError, StorageError, UserError
from nasforge.core.formatting import human, latency_source, metric_label
from nasforge.core.plugins import KINDS, get_plugin_manager
from nasforge.core.records import Trial, TrialState

EXIT_USER_ERROR = 2
#: A plugin (strategy, evaluator, hook ...) or nasforge itself failed; the message names the culprit.
EXIT_PLUGIN_ERROR = 3
#: The experiment database could not be written or read (disk full, read-only, damaged).
EXIT_STORAGE_ERROR = 4
EXIT_INTERRUPTED = 130
#: Stopped by SIGTERM (a scheduler or ``docker stop``); handled like Ctrl-C.
EXIT_TERMINATED = 143

console = Console()

# Metrics shown in tables when present, in this order, after the objectives.


def format_architecture(trial: Trial) -> str:
    return " ".join(f"{k}={v}" for k, v in trial.architecture.items())


def architecture_lines(trials: Sequence[Trial], width: int) -> str:
    """``trial N: k=v k=v ...`` per trial, wrapped between choices only (a choice never breaks)."""
    import textwrap

    lines = []
    for t in trials:
        head = f"trial {t.number}: "
        lines += textwrap.wrap(format_architecture(t) or "(empty)", width=max(20, width), initial_indent=head, subsequent_indent=" " * len(head),
                               break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines)


def trials_table(title: str, trials: list[Trial], metrics: Sequence[str], latency: str = "") -> Any:
    """Metrics in columns, one row per trial (human number formats); architectures listed under it.

    ``latency`` says what ``latency_ms`` measured (``torch eager``, ``onnxruntime``) for its header.
    """
    from rich.console import Group

    # min_width: a narrow table (few metric columns) must not wrap its title mid-sentence
    table = Table(title=escape(title), title_justify="left", min_width=len(title))
    table.add_column("trial", justify="right", no_wrap=True)
    for m in metrics:
        table.add_column(escape(metric_label(m, latency)), justify="right", no_wrap=True)
    for t in trials:
        table.add_row(str(t.number), *(human(t.metrics.get(m), m) for m in metrics))
    return Group(table, _ArchitectureLines(trials))


class _ArchitectureLines:
    """Rich renderable: :func:`architecture_lines` wrapped to the width it is printed at."""

    def __init__(self, trials: Sequence[Trial]) -> None:
        self.trials = list(trials)

    def __rich_console__(self, rich_console: Any, options: Any) -> Any:
        from rich.text import Text

        for line in architecture_lines(self.trials, options.max_width).splitlines():
            yield Text(line, no_wrap=True, overflow="ignore")


def _latency(config: Any) -> str:
    return latency_source(config.evaluator.name, config.evaluator.options)


def _ranked(experiment: Any, complete: list[Trial]) -> list[Trial]:
    """Complete, feasible trials, best first (:func:`nasforge.core.scoring.ranked`)."""
    from nasforge.core.scoring import ranked

    return ranked(experiment.config, complete)


def _infeasible(config: Any, complete: Sequence[Trial]) -> dict[int, str]:
    """Complete trials that break a constraint, with the constraints they break."""
    from nasforge.core.progress import infeasible_reason

    return {t.number: reason for t in complete if (reason := infeasible_reason(config, t))}


def _count_text(trials: Sequence[Trial], infeasible: Mapping[int, str]) -> str:
    """``6 complete (4 infeasible: break a constraint), 1 failed``."""
    parts = []
    for state in TrialState:
        n = sum(1 for t in trials if t.state is state)
        if n:
            extra = f" ({len(infeasible)} infeasible: break a constraint)" if state is TrialState.COMPLETE and infeasible else ""
            parts.append(f"{n} {state.value}{extra}")
    return ", ".join(parts)


def _metric_columns(config: Any, trials: list[Trial]) -> list[str]:
    """The objectives, then the metrics plugins name with ``nasforge_summary_metrics`` that the trials report."""
    columns = [o.metric for o in config.objectives]
    present = set().union(*(t.metrics for t in trials)) if trials else set()
    shown = [m for names in reversed(get_plugin_manager().call_lifecycle("nasforge_summary_metrics", config=config)) for m in names or ()]
    columns += [m for m in dict.fromkeys(shown) if m in present and m not in columns]
    return columns


def print_summary(experiment: Any, result: Any, top: int = 5) -> None:
    trials = result.trials
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    counts = _count_text(trials, _infeasible(experiment.config, complete))
    console.print(f"\n[bold]{escape(experiment.name)}[/]: {len(trials)} trials ({escape(counts)}); stopped: {escape(result.stop_reason)}")
    columns = _metric_columns(experiment.config, complete)
    ranked = _ranked(experiment, complete)
    if ranked:
        console.print(trials_table(f"Best {min(top, len(ranked))} architectures by {experiment.config.objectives[0].metric}", ranked[:top], columns, _latency(experiment.config)))
    else:
        console.print("[yellow]no trial completed within the constraints")
    if len(experiment.config.objectives) > 1 and result.pareto:
        console.print(trials_table("Pareto front", result.pareto, columns, _latency(experiment.config)))
    if getattr(experiment, "scalar_note", ""):
        console.print(f"note: {escape(experiment.scalar_note)}")
    for section in getattr(experiment, "summaries", []):
        # plugin text is shown as written, never read as markup; paths stay on one line
        console.print(escape(section) if isinstance(section, str) else section, soft_wrap=isinstance(section, str))
    console.print(f"experiment folder: [bold]{escape(str(experiment.directory))}[/]", soft_wrap=True)
    hints = [f"nasforge status {experiment.directory}", f"nasforge report {experiment.directory} --serve"]
    hints += [line for lines in reversed(experiment.pm.call_lifecycle("nasforge_experiment_links", experiment=experiment)) for line in lines or ()]
    console.print(escape("inspect: " + "   |   ".join(hints)), soft_wrap=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C (the run saves its state and says how to resume)."""

    def __str__(self) -> str:
        return "terminated (SIGTERM)"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a run is going, SIGTERM raises :class:`Terminated` in the main thread, like Ctrl-C."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_experiment(experiment: Any, quiet: bool) -> int:
    from nasforge.core.progress import ProgressReporter

    reporter = None
    if not quiet:
        reporter = ProgressReporter()
        experiment.pm.register(reporter, name=f"progress-{id(reporter)}", distribution="nasforge-core")
    console.print(escape(f"experiment folder: {experiment.directory}"), soft_wrap=True)
    try:
        with _sigterm_as_interrupt():
            result = experiment.run()
    except KeyboardInterrupt as exc:
        if reporter is not None:
            reporter.stop()
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        console.print(escape(f"\n{how}; finished trials are saved. Continue with: nasforge resume {experiment.directory}"), soft_wrap=True)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except (PluginError, StorageError) as exc:
        if reporter is not None:
            reporter.stop()
        what = "plugin error" if isinstance(exc, PluginError) else "error"
        print(f"{what}: {exc}\nfinished trials are saved; fix the cause, then: nasforge resume {experiment.directory}", file=sys.stderr)
        return EXIT_PLUGIN_ERROR if isinstance(exc, PluginError) else EXIT_STORAGE_ERROR
    finally:
        if reporter is not None:
            reporter.stop()
            experiment.pm.unregister(f"progress-{id(reporter)}")
    print_summary(experiment, result)
    experiment.close()
    return 0


class RunCommand:
    """Run a search described by a YAML config (the built-in digits demo when none is given)."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", nargs="?", help="YAML config file (default: the built-in digits CNN demo)")
        parser.add_argument("--output", help="parent folder for the experiment folder (default: the config's 'output', 'runs')")
        parser.add_argument("--dir", help="use exactly this experiment folder (must not hold an experiment yet)")
        parser.add_argument("--trials", type=int, help="override budget.trials")
        parser.add_argument("--seconds", type=float, help="override budget.seconds")
        parser.add_argument("--seed", type=int, help="override seed")
        parser.add_argument("--quiet", action="store_true", help="no progress display")
        parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                            help="override any config field, e.g. --set strategy.name=tpe --set evaluator.options.epochs=2 (value read as YAML; repeatable)")
        parser.add_argument("--dry-run", action="store_true", help="validate the config, build its components and print the plan; run nothing, write nothing")

    def run(self, args: argparse.Namespace) -> int:
        from nasforge.core.config import default_config, load_config, validate_config
        from nasforge.core.experiment import Experiment

        config = load_config(args.config) if args.config else default_config()
        if args.overrides:
            config = validate_config(apply_overrides(config.model_dump(mode="json"), args.overrides), source="the config with --set overrides")
        overrides: dict[str, Any] = {}
        if args.seed is not None:
            overrides["seed"] = args.seed
        if args.trials is not None or args.seconds is not None:
            budget = config.budget.model_dump()
            if args.trials is not None:
                budget["trials"] = args.trials
            if args.seconds is not None:
                budget["seconds"] = args.seconds
            overrides["budget"] = budget
        if overrides:
            config = validate_config({**config.model_dump(mode="json"), **overrides}, source="the config with command-line overrides")
        if args.dry_run:
            print_plan(config, args.output, args.dir)
            return 0
        experiment = Experiment.create(config, output=args.output, directory=args.dir)
        try:
            return _run_experiment(experiment, args.quiet)
        except UserError:
            # A mistake found when the run starts (e.g. a dataset folder that does not exist):
            # leave no empty experiment folder behind.
            if not experiment.store.trials():
                experiment.discard()
            raise


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set ``key.path=value`` items (values parsed as YAML) in a config dict; list items by index.

    ``strategy.name=tpe``, ``evaluator.options.epochs=2``, ``objectives.0.metric=accuracy``,
    ``constraints=["params <= 5e4"]``. A missing intermediate mapping is created.
    """
    import copy

    import yaml

    data = copy.deepcopy(data)
    for item in overrides:
        path, sep, text = item.partition("=")
        keys = [k for k in path.strip().split(".") if k]
        if not sep or not keys:
            raise UserError(f"--set takes KEY.PATH=VALUE, e.g. --set strategy.name=tpe; got {item!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"--set {path}: cannot read {text!r} as a YAML value: {exc}") from None
        node: Any = data
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = ".".join(keys[: depth + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise UserError(f"--set {path}: {'.'.join(keys[:depth]) or 'the config'} is a list of {len(node)}; use an index 0..{len(node) - 1}")
                if last:
                    node[int(key)] = value
                else:
                    node = node[int(key)]
                continue
            if not isinstance(node, dict):
                raise UserError(f"--set {path}: {'.'.join(keys[:depth])} is {node!r}, not a mapping")
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
            del where
    return data


def print_plan(config: Any, output: str | None = None, directory: str | None = None) -> None:
    """What ``nasforge run`` would do with ``config``: every component built (so option mistakes
    show now), nothing run, no folder written."""
    from nasforge.core.experiment import build_space, instantiate

    pm = get_plugin_manager(config.plugins)
    pm.call_lifecycle("nasforge_check_config", config=config, plugin_manager=pm)
    space = build_space(config, pm)

    def build(kind: str, section: Any, args: tuple[Any, ...], extra: dict[str, Any]) -> Any:
        from nasforge.core.errors import ConfigError

        try:
            cls = pm.get(kind, section.name)
        except UserError as exc:
            raise ConfigError(f"{kind}.name", str(exc)) from None
        return instantiate(cls, args, {**extra, **section.options}, f"{kind}.options", f"{kind} {section.name!r}")

    build("strategy", config.strategy, (space,), {"seed": config.seed})
    evaluator = build("evaluator", config.evaluator, (space,), {})
    build("executor", config.executor, (), {})
    reported = tuple(getattr(evaluator, "metrics", ()) or ())
    for metric in [o.metric for o in config.objectives] + [c.metric for c in config.constraints]:
        if reported and metric not in reported:
            from nasforge.core.errors import ConfigError

            raise ConfigError("objectives/constraints", f"evaluator {config.evaluator.name!r} does not report {metric!r}; it reports: {', '.join(reported)}")
    where = directory or f"{output or config.output}/{config.name}-<timestamp>"
    budget = ", ".join(f"{k} {v}" for k, v in config.budget.model_dump().items() if v is not None)
    lines = [
        f"plan for {config.name} (dry run: the config is valid and every component was built; nothing was run or written)",
        f"  space      {space.name}: {len(space.choices)} choices, {space.size():,} architectures" if space.size() < 10**15 else f"  space      {space.name}: {len(space.choices)} choices",
        f"  strategy   {config.strategy.name} {dict(config.strategy.options) or ''}".rstrip(),
        f"  evaluator  {config.evaluator.name} {dict(config.evaluator.options) or ''}".rstrip() + (f"; reports {', '.join(reported)}" if reported else ""),
        "  objectives " + ", ".join(f"{o.metric} ({o.direction})" for o in config.objectives),
        "  constraints " + (", ".join(str(c) for c in config.constraints) or "none"),
        f"  budget     {budget}" + (f"; each trial at most {config.trial_timeout:g} s" if config.trial_timeout else ""),
        f"  executor   {config.executor.name} {dict(config.executor.options) or ''}".rstrip(),
        f"  seed       {config.seed}",
        f"  folder     {where}",
    ]
    for section in ("compress", "export"):
        value = getattr(config, section)
        if value:
            lines.append(f"  {section:<10} {json.dumps(value)}")
    console.print("\n".join(escape(line) for line in lines), soft_wrap=True)


class ResumeCommand:
    """Continue an experiment after a crash or interruption; finished trials are kept."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("directory", help="the experiment folder printed by 'nasforge run'")
        parser.add_argument("--trials", type=int, help="raise the trial budget")
        parser.add_argument("--quiet", action="store_true", help="no progress display")

    def run(self, args: argparse.Namespace) -> int:
        from nasforge.core.experiment import Experiment

        experiment = Experiment.resume(args.directory, budget_trials=args.trials)
        return _run_experiment(experiment, args.quiet)


class StatusCommand:
    """Show an experiment's trials, best architectures and state."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("directory", help="the experiment folder")
        parser.add_argument("--top", type=int, default=10, help="how many trials to list (default 10)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of tables")

    def run(self, args: argparse.Namespace) -> int:
        from nasforge.core import scoring
        from nasforge.core.config import validate_config
        from nasforge.core.store import Store

        with Store(args.directory, read_only=True) as store:
            raw = store.get_meta("config")
            status = store.get_meta("status", "unknown")
            reason = store.get_meta("reason", "")
            elapsed = float(store.get_meta("elapsed", 0.0))
            trials = store.trials()
            warnings = store.get_meta("warnings", [])
        if raw is None:
            raise UserError(f"{args.directory!r} has no stored config")
        config = validate_config(raw)
        complete = [t for t in trials if t.state is TrialState.COMPLETE]
        ranked = scoring.ranked(config, complete)
        pareto = scoring.pareto_trials(config, complete) if len(config.objectives) > 1 else []
        counts = {s.value: sum(1 for t in trials if t.state is s) for s in TrialState}
        infeasible = _infeasible(config, complete)
        if args.json:
            print(json.dumps({
                "directory": str(args.directory),
                "status": status,
                "reason": reason,
                "elapsed_seconds": elapsed,
                "budget": config.budget.model_dump(),
                "counts": counts,
                "best": [t.to_dict() for t in ranked[: args.top]],
                "pareto": [t.to_dict() for t in pareto],
                "failed": [{"number": t.number, "error": t.error} for t in trials if t.state is TrialState.FAILED],
                "infeasible": sorted(infeasible),
                "warnings": warnings,
            }, indent=2))
            return 0
        budget = config.budget.trials
        console.print(f"[bold]{escape(config.name)}[/] in {escape(str(args.directory))}: {escape(str(status))}, {len(trials)} trials" + (f" of {budget}" if budget else "") + f", {elapsed:.0f} s elapsed")
        if reason:
            console.print(f"  reason: {escape(str(reason))}")
        console.print("  " + escape(_count_text(trials, infeasible)))
        console.print(escape(f"  strategy {config.strategy.name}, evaluator {config.evaluator.name}, objectives: " + ", ".join(f"{o.metric} ({o.direction})" for o in config.objectives)))
        columns = _metric_columns(config, complete)
        if ranked:
            console.print(trials_table(f"Top {min(args.top, len(ranked))} feasible by {config.objectives[0].metric}", ranked[: args.top], columns, _latency(config)))
        if pareto:
            console.print(trials_table("Pareto front", pareto, columns, _latency(config)))
        if infeasible:
            console.print(f"  {len(infeasible)} infeasible trials (complete, but break a constraint; never best nor on the front):")
            for number, reason in infeasible.items():
                console.print(f"  trial {number} breaks {escape(reason)}", soft_wrap=True)
        for message in warnings:
            console.print(f"  [yellow]warning:[/] {escape(message)}", soft_wrap=True)
        for t in trials:
            if t.state in (TrialState.FAILED, TrialState.PRUNED):
                console.print(escape(f"  trial {t.number} {t.state.value}: {t.error}"))
        if status in ("running", "interrupted", "failed", "finishing") or counts["pending"] or counts["running"]:
            console.print(escape(f"  to continue: nasforge resume {args.directory}"), soft_wrap=True)
        return 0


def plain_description(text: str) -> str:
    """A one-line description without reST markup (``x`` and :role:`x` become x)."""
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text or "")
    text = re.sub(r"``([^`]+)``", r"\1", text)
    return " ".join(text.split())


class PluginsCommand:
    """List loaded plugins, their distributions and what each registered."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--kind", choices=sorted(KINDS), help="list only components of this kind")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, args: argparse.Namespace) -> int:
        pm = get_plugin_manager()
        kinds = [args.kind] if args.kind else list(KINDS)
        rows = []
        for kind in kinds:
            for name, comp in sorted(pm.components(kind).items()):
                rows.append({"kind": kind, "name": name, "plugin": comp.plugin.name, "distribution": comp.plugin.distribution, "version": comp.plugin.version, "description": plain_description(comp.description)})
        if args.json:
            print(json.dumps({"plugins": [p.__dict__ for p in pm.plugins()], "components": rows}, indent=2))
            return 0
        if not args.kind:
            table = Table(title="Loaded plugins", title_justify="left")
            for col in ("plugin", "distribution", "version"):
                table.add_column(col, no_wrap=True)
            for p in pm.plugins():
                table.add_row(escape(p.name), escape(p.distribution), escape(p.version))
            console.print(table)
        # One line per component: long descriptions end in '...' (``--json`` has them whole).
        comps = Table(title=f"Registered {args.kind or 'components'} ({len(rows)})", title_justify="left")
        for col, key in ([] if args.kind else [("kind", "kind")]) + [("name", "name"), ("from", "distribution")]:
            comps.add_column(col, no_wrap=True, min_width=max([len(col), *(len(r[key]) for r in rows)]))
        comps.add_column("description", overflow="ellipsis", ratio=1)
        for r in rows:
            comps.add_row(*([] if args.kind else [r["kind"]]), escape(r["name"]), escape(r["distribution"]), Text(r["description"], no_wrap=True, overflow="ellipsis"))
        console.print(comps)
        return 0


class CompletionCommand:
    """Print a shell completion script: eval "$(nasforge completion bash)" (bash, zsh)."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")

    def run(self, args: argparse.Namespace) -> int:
        print(completion_script(build_parser(), args.shell))
        return 0


def completion_script(parser: argparse.ArgumentParser, shell: str = "bash") -> str:
    """A bash (or zsh, through bashcompinit) completion function for every installed command and
    its options; component kinds complete to the registered names (--kind, compress's method)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases = []
    for name, cmd_parser in sorted(sub.choices.items()):
        words = sorted({opt for a in cmd_parser._actions for opt in a.option_strings if opt.startswith("--")})
        choices = sorted({str(c) for a in cmd_parser._actions if a.choices and not a.option_strings for c in a.choices})
        cases.append(f"    {name}) words=\"{' '.join(words + choices)}\" ;;")
    commands = " ".join(sorted(sub.choices))
    script = f"""# nasforge completion ({shell}); generated by: nasforge completion {shell}
_nasforge() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "{commands} --help --version" -- "$cur"))
    return
  fi
  case "${{COMP_WORDS[1]}}" in
{chr(10).join(cases)}
    *) words="" ;;
  esac
  if [[ "$cur" == -* || -z "$cur" && -n "$words" ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
  if [ ${{#COMPREPLY[@]}} -eq 0 ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}}
complete -o filenames -F _nasforge nasforge"""
    if shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasforge", description="Search, train, compress and export neural architectures.")
    parser.add_argument("--version", action="version", version=f"nasforge-core {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, comp in sorted(get_plugin_manager().components("command").items()):
        command = comp.obj() if isinstance(comp.obj, type) else comp.obj
        help_text = comp.description or (command.__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(name, help=help_text, description=help_text)
        command.configure(p)
        p.set_defaults(_command=command)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nasforge-core")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    from nasforge.core.plugins import PluginLoadWarning

    warnings.simplefilter("ignore", PluginLoadWarning)  # printed once below instead
    try:
        parser = build_parser()
        for message in get_plugin_manager().load_errors:
            print(f"warning: {message}", file=sys.stderr)
    except NasforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR if isinstance(exc, UserError) else EXIT_PLUGIN_ERROR
    args = parser.parse_args(argv)
    if getattr(args, "_command", None) is None:
        # `nasforge` with no command runs the built-in demo, like `nasforge run`.
        args = parser.parse_args(["run", *(argv or [])])
    try:
        return int(args._command.run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except PluginError as exc:
        print(f"plugin error: {exc}", file=sys.stderr)
        return EXIT_PLUGIN_ERROR
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORAGE_ERROR
    except KeyboardInterrupt as exc:
        print("terminated" if isinstance(exc, Terminated) else "interrupted", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except NasforgeError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_PLUGIN_ERROR
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("NASFORGE_TRACEBACK"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set NASFORGE_TRACEBACK=1 to see where; please report it)", file=sys.stderr)
        return EXIT_PLUGIN_ERROR


if __name__ == "__main__":
    sys.exit(main())
