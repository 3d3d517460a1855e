"""Test helpers for nasforge and its plugins: conformance suites for every component kind.

* :mod:`nasforge.testing.strategies` -- search strategies (``STRATEGY_CHECKS``, ``run_check``);
* :mod:`nasforge.testing.evaluators` -- evaluators (``EVALUATOR_CHECKS``, ``run_check``);
* :mod:`nasforge.testing.executors` -- executors (``EXECUTOR_CHECKS``, ``run_check``, and the
  :class:`~nasforge.testing.executors.ProbeEvaluator` they drive);
* :mod:`nasforge.testing.test_installed` -- every suite over every installed component:
  ``pytest --pyargs nasforge.testing.test_installed -k <plugin or component name>``.

The compressor suite needs torch, so it ships with nasforge-compression:
:mod:`nasforge.compression.testing` and ``pytest --pyargs nasforge.compression.test_installed``.
These modules import neither torch nor any other nasforge package (tests/test_architecture.py).

Each suite's checks are plain functions raising :class:`AssertionError` with an explanation; a
component opts out of a check honestly with a class attribute ``conformance_skip_<check>``
holding the reason. nasforge-core registers :mod:`nasforge.testing.pytest_plugin` with pytest
(fixture ``nasforge_plugin_manager``).
"""
