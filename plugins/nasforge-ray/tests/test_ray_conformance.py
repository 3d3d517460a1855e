"""The ray executor passes nasforge's executor conformance suite.

One Ray instance (2 CPUs) serves the whole module: the executor reuses a Ray that is already
running and leaves it running, so each check only pays for its actors, not for starting Ray.
"""

import tempfile

import pytest
import ray

from nasforge.testing.executors import EXECUTOR_CHECKS, run_check
from nasforge_ray import RayExecutor
from nasforge_ray.executor import RAY_ENV, prepare_local_ray


@pytest.fixture(scope="module")
def shared_ray():
    temp = tempfile.mkdtemp(prefix="nfray-test-")
    for key, value in RAY_ENV.items():
        import os

        os.environ.setdefault(key, value)
    prepare_local_ray(ray)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp)
    yield
    ray.shutdown()
    import shutil

    shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.parametrize("check", sorted(EXECUTOR_CHECKS))
def test_ray_executor_conforms(check, tmp_path, shared_ray):
    run_check(check, RayExecutor, tmp_path, options={"workers": 2})
    assert ray.is_initialized(), "an executor that did not start Ray must not stop it"


def test_registered_as_ray(nasforge_plugin_manager):
    component = nasforge_plugin_manager.components("executor")["ray"]
    assert component.obj is RayExecutor and component.plugin.distribution == "nasforge-ray"
