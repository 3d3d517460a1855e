"""A local Ray started by the executor is reachable from this machine only, and asks for a token."""

import ipaddress
import os

import psutil
import pytest

from nasforge.testing.executors import ProbeEvaluator, context, probe, probe_space
from nasforge_ray import RayExecutor


def _listening(pids: set[int]) -> set[tuple[str, str]]:
    """(address, process name) of every listening TCP socket of these processes."""
    found = set()
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.Error:
                name = "?"
            found.add((conn.laddr.ip, name))
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.mark.slow
def test_a_local_ray_listens_on_loopback_only_and_requires_a_token(tmp_path, monkeypatch):
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    executor = RayExecutor(workers=1, temp_dir=None)
    executor.start(tmp_path, ProbeEvaluator(probe_space()))
    try:
        assert executor.submit_trial(probe(3), context(0, tmp_path)).result(timeout=120).metrics["value"] == 30
        me = psutil.Process()
        pids = {me.pid, *(p.pid for p in me.children(recursive=True))}
        sockets = _listening(pids)
        names = {name for _, name in sockets}
        assert any("gcs_server" in n for n in names) and any("raylet" in n for n in names), sockets
        exposed = sorted((addr, name) for addr, name in sockets if not _loopback(addr))
        assert not exposed, f"Ray processes listening beyond loopback: {exposed}"
        assert os.environ["RAY_AUTH_MODE"] == "token" and len(os.environ["RAY_AUTH_TOKEN"]) >= 32
    finally:
        executor.shutdown()
