"""Every hook nasforge calls, in one module. The docstrings are the reference documentation.

Plugins implement hooks with :data:`hookimpl` (marker ``nasforge``) in a module or class and
expose it through the ``nasforge`` entry-point group. Built-in packages register their
strategies, evaluators and the rest through these same hooks.

Provider hooks (``nasforge_register_*``) receive a ``register`` callback; each call adds one
named component. Registering a name that another plugin already took is an error naming both.
Lifecycle hooks are called around every trial and experiment. Every hook is called through pluggy
(``pm.hook.<name>(...)``): implementations run last-registered first, ``@hookimpl(tryfirst=True)``
/ ``trylast=True`` reorder them, and ``@hookimpl(wrapper=True)`` wraps the others, as in pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from nasforge.core.config import ExperimentConfig
    from nasforge.core.experiment import Experiment, ExperimentResult
    from nasforge.core.plugins import PluginManager
    from nasforge.core.records import Trial

hookspec = pluggy.HookspecMarker("nasforge")
hookimpl = pluggy.HookimplMarker("nasforge")


class Register(Protocol):
    def __call__(self, name: str, obj: Any, description: str = "") -> None: ...


# -- provider hooks: what a plugin contributes --------------------------------------------------
@hookspec
def nasforge_register_strategies(register: Register) -> None:
    """Register search strategies.

    :param register: call ``register(name, cls, description)`` once per strategy; ``cls`` is a
        :class:`~nasforge.core.strategy.SearchStrategy` subclass constructed as
        ``cls(space, seed=..., **options)`` with the ``strategy.options`` of the config.
    """


@hookspec
def nasforge_register_evaluators(register: Register) -> None:
    """Register evaluators, which turn an architecture into metrics.

    :param register: call ``register(name, cls, description)``; ``cls`` is an
        :class:`~nasforge.core.evaluator.Evaluator` subclass constructed as
        ``cls(space, **options)`` with the ``evaluator.options`` of the config.
    """


@hookspec
def nasforge_register_spaces(register: Register) -> None:
    """Register named search spaces a config can use as ``space: {name: ...}``.

    :param register: call ``register(name, factory, description)``; ``factory(**options)``
        returns a :class:`~nasforge.core.space.SearchSpace`.
    """


@hookspec
def nasforge_register_model_builders(register: Register) -> None:
    """Register how to build a model from an architecture of a named space.

    :param register: call ``register(space_name, builder, description)``; the builder's
        signature is the business of the packages that use it (the trainer calls
        ``builder(architecture, input_shape=..., num_classes=...)`` and expects a torch module).
    """


@hookspec
def nasforge_register_datasets(register: Register) -> None:
    """Register datasets an evaluator can load by name.

    :param register: call ``register(name, loader, description)``; the loader's signature is the
        business of the evaluators that use it (see the trainer's documentation).
    """


@hookspec
def nasforge_register_compressors(register: Register) -> None:
    """Register compressors (pruning, quantization, distillation ...).

    :param register: call ``register(name, cls, description)``; see the compression package
        for the compressor interface.
    """


@hookspec
def nasforge_register_exporters(register: Register) -> None:
    """Register exporters, which write a model to a deployable format.

    :param register: call ``register(name, cls, description)``; see the export package for the
        exporter interface.
    """


@hookspec
def nasforge_register_deploy_adapters(register: Register) -> None:
    """Say how the deploy stage reloads, feeds and scores what an evaluator trained.

    :param register: call ``register(evaluator_name, factory, description)``; the deploy stage
        calls ``factory(evaluator)`` with the experiment's evaluator instance and uses the
        returned :class:`~nasforge.core.deployment.DeployAdapter` to load the winner's trained
        model, its example inputs, its calibration/evaluation data and its held-out score. An
        evaluator without an adapter can still be searched with; only a config's
        ``compress:``/``export:`` sections need one (see docs/pipeline.md).
    """


@hookspec
def nasforge_register_executors(register: Register) -> None:
    """Register executors, which decide where and how many trials run at once.

    :param register: call ``register(name, cls, description)``; ``cls`` is an
        :class:`~nasforge.core.executor.Executor` subclass constructed with the
        ``executor.options`` of the config.
    """


@hookspec
def nasforge_register_commands(register: Register) -> None:
    """Add sub-commands to the ``nasforge`` command line.

    :param register: call ``register(name, command, description)``; ``command`` has
        ``configure(parser)`` to add arguments to an :class:`argparse.ArgumentParser` and
        ``run(args) -> int`` returning the exit code.
    """


# -- presentation hooks: what the command line shows ---------------------------------------------
@hookspec
def nasforge_summary_metrics(config: Any) -> list[str]:
    """Name the metrics worth a column in the tables of ``nasforge run`` and ``nasforge status``.

    The tables show the objectives, then every metric returned here (in plugin order) that the
    trials actually report, so a plugin may name metrics of its evaluators unconditionally.

    :param config: the experiment's :class:`~nasforge.core.config.ExperimentConfig`.
    """


@hookspec
def nasforge_experiment_links(experiment: Experiment) -> list[str]:
    """Lines telling the user where else to look at a finished experiment (printed after its summary).

    :param experiment: the experiment; e.g. the trainer returns
        ``tensorboard --logdir <experiment folder>`` when TensorBoard logs were written.
    """


# -- lifecycle hooks: what happens around an experiment and its trials -------------------------
@hookspec
def nasforge_check_config(config: ExperimentConfig, plugin_manager: PluginManager) -> None:
    """Check the config sections this plugin reads (``compress:``, ``export:`` ...) before anything exists.

    Called by ``nasforge run`` (also with ``--dry-run``) and the Python API before the experiment
    folder is created, so a typo in a plugin's section costs no folder and no search time. Raise
    :class:`~nasforge.core.errors.ConfigError` naming the field.

    :param config: the validated :class:`~nasforge.core.config.ExperimentConfig`.
    :param plugin_manager: the :class:`~nasforge.core.plugins.PluginManager` the run will use
        (to look components up by name).
    """


@hookspec
def nasforge_before_experiment(experiment: Experiment) -> None:
    """Called once when an experiment starts or resumes, before its first trial.

    :param experiment: the running :class:`~nasforge.core.experiment.Experiment`.
    """


@hookspec
def nasforge_before_trial(experiment: Experiment, trial: Trial) -> None:
    """Called just before a trial is evaluated (its state is ``running``).

    :param experiment: the running experiment.
    :param trial: the trial about to run.
    """


@hookspec
def nasforge_after_trial(experiment: Experiment, trial: Trial) -> None:
    """Called after a trial finished and was stored, whatever its state (complete, failed, pruned).

    :param experiment: the running experiment.
    :param trial: the finished trial, with its metrics or error.
    """


@hookspec
def nasforge_on_trial_error(experiment: Experiment, trial: Trial, error: BaseException) -> None:
    """Called when a trial fails with an exception, before :func:`nasforge_after_trial`.

    :param experiment: the running experiment.
    :param trial: the failed trial (state ``failed``, ``error`` holds the reason).
    :param error: the exception the evaluator raised.
    """


@hookspec
def nasforge_after_experiment(experiment: Experiment, result: ExperimentResult) -> None:
    """Called once when an experiment ends (budget spent, space exhausted or interrupted).

    :param experiment: the experiment.
    :param result: its best trial(s) and Pareto front.
    """
