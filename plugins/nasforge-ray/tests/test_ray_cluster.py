"""The ray executor connects to an existing Ray instance through ``address`` and leaves it running."""

import os
import secrets
import subprocess
import sys
import tempfile

import pytest
import ray

from nasforge.testing.executors import check_runs_trials
from nasforge_ray import RayExecutor
from nasforge_ray.executor import RAY_ENV

HEAD = """
import os, sys, ray
ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[1])
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()   # keep the instance up until the test closes our stdin
ray.shutdown()
"""


@pytest.mark.slow
def test_address_connects_to_a_running_ray_and_does_not_stop_it(tmp_path, monkeypatch):
    temp = tempfile.mkdtemp(prefix="nfhead-")
    # A cluster with token authentication on: the executor must connect with it and change nothing.
    token = secrets.token_hex(32)
    env = dict(os.environ, **RAY_ENV, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(key, env[key])
    head = subprocess.Popen([sys.executable, "-c", HEAD, temp], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = head.stdout.readline().strip()
        assert address, "the head process did not start Ray"
        executor_options = {"address": address, "workers": 2}
        check_runs_trials(RayExecutor, tmp_path, executor_options)
        assert not ray.is_initialized(), "the executor connected, so it disconnects at shutdown"
        assert head.poll() is None, "the executor must not stop a Ray instance it did not start"
        assert not (tmp_path / "ray").exists(), "a cluster keeps its own temp folder"
        assert os.environ["RAY_AUTH_MODE"] == "token" and os.environ["RAY_AUTH_TOKEN"] == token, "the cluster's authentication is left on"
    finally:
        head.stdin.close()
        head.wait(timeout=120)
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
