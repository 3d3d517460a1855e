import json
import re

import pytest
from conftest import synthetic_config

from nasforge.core import report as report_module
from nasforge.core.cli import main
from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment


def _page_data(text):
    return json.loads(re.search(r"const NF_DATA = (.*?);\nconst NF_LIVE", text, re.DOTALL).group(1))


def test_run_writes_a_self_contained_report_with_the_exact_front_and_a_step_curve(tmp_path, pm):
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 12}, objectives=["accuracy", "params:min"]))
    experiment = Experiment.create(config, plugin_manager=pm)
    result = experiment.run()
    text = (experiment.directory / "report.html").read_text()
    assert "src=\"http" not in text and "<script>" in text and "Plotly" in text  # plotly.js embedded, nothing fetched
    data = _page_data(text)
    figs = {f["id"]: f for f in data["figures"]}
    front = next(t for t in figs["front-params"]["data"] if t["name"].startswith("Pareto front"))
    assert sorted(front["customdata"]) == sorted(t.number for t in result.pareto)
    curve = figs["best-so-far"]["data"][0]
    assert curve["line"]["shape"] == "hv" and curve["y"] == sorted(curve["y"])  # a non-decreasing step curve
    assert curve["y"][-1] == result.best.metrics["accuracy"]
    assert {"space", "importance"} <= set(figs)
    assert data["tables"].count("<tr class=") == 12


def test_report_command(tmp_path, pm, capsys):
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 3}))
    experiment = Experiment.create(config, plugin_manager=pm)
    experiment.run()
    out = tmp_path / "r.html"
    assert main(["report", str(experiment.directory), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_without_plotly_the_report_says_so_loudly(tmp_path, pm, monkeypatch, capsys):
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 3}))
    experiment = Experiment.create(config, plugin_manager=pm)
    experiment.run()
    monkeypatch.setattr(report_module, "plotly_js", lambda: None)
    assert main(["report", str(experiment.directory)]) == 0
    assert "plotly" in capsys.readouterr().err.lower()
    text = (experiment.directory / "report.html").read_text()
    assert "class='warning'" in text and "nasforge-core[report]" in text and "<table>" in text


@pytest.mark.parametrize("path", ["/", "/data.json"])
def test_the_live_server_reads_the_store_without_writing(tmp_path, pm, path):
    import threading
    import urllib.request
    from http.server import ThreadingHTTPServer

    config = validate_config(synthetic_config(tmp_path, budget={"trials": 4}))
    experiment = Experiment.create(config, plugin_manager=pm)
    experiment.run()
    db = experiment.directory / "nasforge.db"
    db.chmod(0o444)  # a read-only store is enough
    started = {}
    real_init = ThreadingHTTPServer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        started["server"] = self

    ThreadingHTTPServer.__init__ = init
    try:
        thread = threading.Thread(target=report_module.serve, args=(experiment.directory, 0, 1.0), daemon=True)
        thread.start()
        for _ in range(200):
            if "server" in started:
                break
            threading.Event().wait(0.05)
        port = started["server"].server_address[1]
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read().decode()
    finally:
        ThreadingHTTPServer.__init__ = real_init
        if "server" in started:
            started["server"].shutdown()
        db.chmod(0o644)
    if path == "/":
        assert "const NF_LIVE = true" in body
    else:
        assert json.loads(body)["tables"].count("<tr class=") == 4
