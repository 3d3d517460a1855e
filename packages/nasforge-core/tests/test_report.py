import re

from conftest import synthetic_config

from nasforge.core.cli import main
from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment


def test_run_writes_a_report_with_the_exact_pareto_front_and_best_so_far_curve(tmp_path, pm):
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 12}, objectives=["accuracy", "params:min"]))
    experiment = Experiment.create(config, plugin_manager=pm)
    result = experiment.run()
    text = (experiment.directory / "report.html").read_text()
    sections = text.split("<h2>")
    front = next(s for s in sections if s.startswith("Pareto front: accuracy vs params"))
    assert len(re.findall(r'<circle[^>]*fill="#d62728"', front)) == len(result.pareto)
    assert len(re.findall(r'<circle[^>]*fill="#1f77b4"', front)) == 12
    curve = next(s for s in sections if s.startswith("Best accuracy so far"))
    assert "<polyline" in curve
    assert text.count("<tr>") == 1 + 12


def test_report_command(tmp_path, pm, capsys):
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 3}))
    experiment = Experiment.create(config, plugin_manager=pm)
    experiment.run()
    out = tmp_path / "r.html"
    assert main(["report", str(experiment.directory), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert main(["report", str(tmp_path / "nothing")]) == 2
