"""nasforge-deploy's plugin (entry point ``deploy``): the after-search pipeline and ``nasforge compress``.

The hook implementations import the pipeline (and with it torch) only when an experiment runs,
so loading the plugin costs nothing for ``nasforge --help``.
"""

from __future__ import annotations

from typing import Any

from nasforge.core.hookspecs import hookimpl


@hookimpl
def nasforge_check_config(config: Any, plugin_manager: Any) -> None:
    """Validate the ``compress:``/``export:`` sections before the experiment folder is created."""
    if config.compress is None and config.export is None:
        return
    from nasforge.deploy.pipeline import check_config

    check_config(config, plugin_manager)


@hookimpl
def nasforge_before_experiment(experiment: Any) -> None:
    """Validate the ``compress:``/``export:`` sections before any trial runs."""
    if experiment.config.compress is None and experiment.config.export is None:
        return
    from nasforge.deploy.pipeline import check_experiment

    check_experiment(experiment)


@hookimpl
def nasforge_after_experiment(experiment: Any, result: Any) -> None:
    """Compress, export, check and benchmark the winner(s) when the config asks for it."""
    if experiment.config.compress is None and experiment.config.export is None:
        return
    from nasforge.deploy.pipeline import deploy_experiment

    deploy_experiment(experiment, result)


@hookimpl
def nasforge_register_commands(register: Any) -> None:
    from nasforge.deploy.compress_cli import CompressCommand

    register("compress", CompressCommand(), "Compress any PyTorch model (prune, distil, fine-tune) and report params, MACs and accuracy")
