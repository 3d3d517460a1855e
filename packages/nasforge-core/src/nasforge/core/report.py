"""A self-contained HTML report of an experiment: best-so-far curve, Pareto fronts, trial table.

Plots are inline SVG written here, so the report needs no plotting library and opens in any
browser. ``nasforge report DIR`` writes ``DIR/report.html``; ``nasforge run`` writes it at the end.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasforge.core.config import ExperimentConfig
from nasforge.core.pareto import pareto_front
from nasforge.core.records import Trial, TrialState

WIDTH, HEIGHT, PAD = 520, 320, 48


def _scale(values: Sequence[float], lo_px: float, hi_px: float, log: bool = False):
    vals = [math.log10(v) if log else v for v in values]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0

    def f(v: float) -> float:
        x = math.log10(v) if log else v
        return lo_px + (x - lo) / span * (hi_px - lo_px)

    return f, (lo, hi)


def _axis_label(value: float, log: bool) -> str:
    v = 10**value if log else value
    return f"{v:.3g}"


def svg_plot(points: Sequence[tuple[float, float]], xlabel: str, ylabel: str, highlight: Sequence[tuple[float, float]] = (), line: bool = False, logx: bool = False) -> str:
    """A scatter (or step line) plot as an SVG string; ``highlight`` points are drawn red and joined."""
    points = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y) and (not logx or x > 0)]
    if not points:
        return "<p>(nothing to plot)</p>"
    fx, (xlo, xhi) = _scale([p[0] for p in points], PAD, WIDTH - 10, logx)
    fy, (ylo, yhi) = _scale([p[1] for p in points], HEIGHT - PAD, 10)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">']
    parts.append(f'<rect x="{PAD}" y="10" width="{WIDTH - PAD - 10}" height="{HEIGHT - PAD - 10}" fill="none" stroke="#999"/>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 14}">{_axis_label(xlo, logx)}</text><text x="{WIDTH - 10}" y="{HEIGHT - PAD + 14}" text-anchor="end">{_axis_label(xhi, logx)}</text>')
    parts.append(f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end">{ylo:.4g}</text><text x="{PAD - 4}" y="18" text-anchor="end">{yhi:.4g}</text>')
    parts.append(f'<text x="{(WIDTH + PAD) / 2}" y="{HEIGHT - 8}" text-anchor="middle">{html.escape(xlabel)}{" (log)" if logx else ""}</text>')
    parts.append(f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" text-anchor="middle">{html.escape(ylabel)}</text>')
    if line:
        path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    else:
        parts.extend(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3" fill="#1f77b4" fill-opacity="0.6"/>' for x, y in points)
    hl = sorted((x, y) for x, y in highlight if math.isfinite(x) and math.isfinite(y) and (not logx or x > 0))
    if hl:
        parts.append('<polyline points="' + " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in hl) + '" fill="none" stroke="#d62728"/>')
        parts.extend(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="4" fill="#d62728"/>' for x, y in hl)
    parts.append("</svg>")
    return "".join(parts)


def _best_so_far(trials: list[Trial], config: ExperimentConfig) -> list[tuple[float, float]]:
    objective = config.objectives[0]
    best, out = -math.inf, []
    for t in sorted(trials, key=lambda t: t.number):
        value = t.metrics.get(objective.metric) if t.state is TrialState.COMPLETE else None
        if value is not None and math.isfinite(value) and all(c.violation(dict(t.metrics)) == 0 for c in config.constraints):
            best = max(best, value * objective.sign)
        if math.isfinite(best):
            out.append((float(t.number), best * objective.sign))
    return out


def _front(trials: list[Trial], x: str, x_sign: float, y: str, y_sign: float) -> list[tuple[float, float]]:
    pts = [(t.metrics[x], t.metrics[y]) for t in trials if x in t.metrics and y in t.metrics]
    idx = pareto_front([(px * x_sign, py * y_sign) for px, py in pts])
    return [pts[i] for i in idx]


def render_report(config: ExperimentConfig, trials: list[Trial], directory: Path, status: str = "") -> str:
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    main = config.objectives[0]
    sections = [f"<h1>{html.escape(config.name)}</h1>", f"<p>{html.escape(str(directory))} — {len(trials)} trials, {len(complete)} complete. {html.escape(status)}</p>"]
    sections.append(f"<h2>Best {html.escape(main.metric)} so far</h2>" + svg_plot(_best_so_far(trials, config), "trial", main.metric, line=True))
    directions = {o.metric: o.sign for o in config.objectives}
    pairs = []
    if len(config.objectives) >= 2:
        pairs.append((config.objectives[1].metric, main.metric))
    for cost in ("latency_ms", "params", "flops"):
        if any(cost in t.metrics for t in complete) and (cost, main.metric) not in pairs and cost != main.metric:
            pairs.append((cost, main.metric))
    for x, y in pairs:
        x_sign = directions.get(x, -1.0)  # cost metrics are minimised unless an objective says otherwise
        pts = [(t.metrics[x], t.metrics[y]) for t in complete if x in t.metrics and y in t.metrics]
        logx = x in ("params", "flops") and all(p[0] > 0 for p in pts)
        sections.append(f"<h2>Pareto front: {html.escape(y)} vs {html.escape(x)}</h2>" + svg_plot(pts, x, y, highlight=_front(complete, x, x_sign, y, directions.get(y, 1.0)), logx=logx))
    metrics = sorted({m for t in complete for m in t.metrics})
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        cells = "".join(f"<td>{t.metrics[m]:.4g}</td>" if m in t.metrics else "<td></td>" for m in metrics)
        arch = html.escape(" ".join(f"{k}={v}" for k, v in t.architecture.items()))
        error = f" title='{html.escape(t.error or '')}'" if t.error else ""
        rows.append(f"<tr><td>{t.number}</td><td{error}>{t.state.value}</td>{cells}<td>{arch}</td></tr>")
    header = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    sections.append(f"<h2>Trials</h2><table><tr><th>#</th><th>state</th>{header}<th>architecture</th></tr>{''.join(rows)}</table>")
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(config.name)}</title><style>{style}</style></head><body>{''.join(sections)}</body></html>"


def write_report(directory: Path, config: ExperimentConfig, trials: list[Trial], status: str = "") -> Path:
    path = Path(directory) / "report.html"
    path.write_text(render_report(config, trials, Path(directory), status), encoding="utf-8")
    return path


class ReportCommand:
    """Write an HTML report (best-so-far curve, Pareto fronts, all trials) of an experiment."""

    def configure(self, parser: Any) -> None:
        parser.add_argument("directory", help="the experiment folder")
        parser.add_argument("--out", help="where to write the HTML (default DIR/report.html)")

    def run(self, args: Any) -> int:
        from nasforge.core.config import validate_config
        from nasforge.core.store import Store

        with Store(args.directory) as store:
            config = validate_config(store.get_meta("config"))
            trials = store.trials()
            status = store.get_meta("status", "")
        text = render_report(config, trials, Path(args.directory), status)
        out = Path(args.out) if args.out else Path(args.directory) / "report.html"
        out.write_text(text, encoding="utf-8")
        print(out)
        return 0
