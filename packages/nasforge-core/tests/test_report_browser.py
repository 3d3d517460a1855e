"""The report in a real headless browser: Debian's Chromium driven by playwright (no browser download).

The page must load with no console error and no request leaving the file, draw its plots, and show
a trial's number, architecture and metrics when the mouse hovers its point. A screenshot is kept:
under ``$NASFORGE_ARTIFACTS`` when set (CI sets it to ``.ci/artifacts``), else in the test's
temporary folder; its path is printed. On CI (``CI`` set) a missing browser fails the test; on a
developer machine it skips, saying how to install one.
"""

import os
import shutil
from pathlib import Path

import pytest
from conftest import synthetic_config

from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def _missing(message: str):
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name) or (f"/usr/lib/chromium/{name}" if Path(f"/usr/lib/chromium/{name}").exists() else None)
        if found:
            return found
    _missing("no headless Chromium found (install it with: apt-get install -y chromium-headless-shell)")


def test_the_report_renders_offline_and_hovering_a_point_shows_its_trial(tmp_path, pm):
    try:
        from playwright import sync_api
    except ImportError:
        _missing("the playwright package is missing (it is in nasforge-core's test extra)")
    executable = _browser()
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 14}, objectives=["accuracy", "params:min"], constraints=["params <= 600"]))
    experiment = Experiment.create(config, plugin_manager=pm)
    result = experiment.run()
    page_file = experiment.directory / "report.html"
    errors, outside = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:", "blob:", "about:")) else None)
        page.goto(page_file.as_uri())
        page.wait_for_selector("#plot-front-params .scatterlayer .point", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() >= 4  # best-so-far, fronts, space, importance
        assert page.locator("#plot-space .parcoords").count() == 1
        # Hover the first point of the front trace: the hover label names that trial.
        front_points = page.locator("#plot-front-params .scatterlayer .trace").last.locator(".point")
        box = front_points.first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#plot-front-params .hoverlayer .hovertext", timeout=10_000)
        label = page.locator("#plot-front-params .hoverlayer .hovertext").first.text_content()
        shot_dir = Path(os.environ.get("NASFORGE_ARTIFACTS") or tmp_path)
        shot_dir.mkdir(parents=True, exist_ok=True)
        shot = shot_dir / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"report screenshot: {shot}")
        browser.close()
    assert errors == [] and outside == []
    numbers = {t.number for t in result.pareto}
    shown = next(n for n in numbers if f"trial {n} " in label)
    trial = result.trials[shown]
    assert f"a={trial.architecture['a']}" in label and "params:" in label and "accuracy:" in label
    assert shot.stat().st_size > 10_000
