"""The experiment report: one self-contained HTML page, and the same page served live.

``nasforge report DIR`` writes ``DIR/report.html`` (``nasforge run`` writes it at the end):

* the best feasible value of the first objective so far, as a step curve over trials, with every
  trial's own value (trials that break a constraint drawn apart);
* one Pareto front per pair (second objective, or each cost metric, against the first): feasible
  trials, infeasible ones (marked), and the front of the *feasible* trials; hovering a point
  shows the trial's number, architecture and metrics;
* the search space: parallel coordinates of every trial's choices coloured by the first
  objective, and how much of the objective's variance each choice explains on its own (η²);
* the deploy table (every exported file, when the run compressed and exported its winner) and
  every trial, numbers in human formats (:mod:`nasforge.core.formatting`).

The plots are drawn by Plotly, whose JavaScript is embedded, so the page works offline and loads
nothing from the network. Plotly is the optional ``report`` extra of nasforge-core
(``pip install 'nasforge-core[report]'``; the ``nasforge`` distribution installs it): without it
the page keeps its tables, says at the top that the plots need Plotly, and the command prints
the same warning.

``nasforge report DIR --serve`` (also ``nasforge dashboard DIR``) serves the page on
``http://127.0.0.1:PORT`` and refreshes it every few seconds from the experiment's SQLite store,
opened read-only, so it can watch a run that is still going.
"""

from __future__ import annotations

import html
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nasforge.core.config import ExperimentConfig
from nasforge.core.formatting import human, latency_source, metric_label
from nasforge.core.pareto import pareto_front
from nasforge.core.records import Trial, TrialState

PLOTLY_MISSING = "the interactive plots need Plotly, which is not installed: pip install 'nasforge-core[report]'"

#: Cost metrics plotted against the first objective when trials report them.
COST_METRICS = ("latency_ms", "params", "flops", "peak_memory_mb")
COLOURS = {"feasible": "#1f77b4", "infeasible": "#ff7f0e", "front": "#d62728", "curve": "#2ca02c"}


# -- what the page shows ----------------------------------------------------------------------------
def _violations(config: ExperimentConfig, trial: Trial) -> list[str]:
    return [str(c) for c in config.constraints if c.violation(dict(trial.metrics)) != 0]


def _feasible(config: ExperimentConfig, trial: Trial) -> bool:
    return trial.state is TrialState.COMPLETE and not _violations(config, trial)


def _arch_text(trial: Trial) -> str:
    return " ".join(f"{k}={v}" for k, v in trial.architecture.items())


def _hover(config: ExperimentConfig, trial: Trial) -> str:
    """What hovering a trial's point shows: number, state, architecture (wrapped) and metrics."""
    lines = [f"<b>trial {trial.number}</b> ({trial.state.value}{', infeasible' if trial.state is TrialState.COMPLETE and not _feasible(config, trial) else ''})"]
    arch = [f"{k}={v}" for k, v in trial.architecture.items()]
    lines += [html.escape(" ".join(arch[i : i + 4])) for i in range(0, len(arch), 4)]
    lines += [f"{html.escape(m)}: {human(v, m)}" for m, v in trial.metrics.items()]
    lines += [f"breaks {html.escape(v)}" for v in _violations(config, trial)]
    return "<br>".join(lines)


def best_so_far(config: ExperimentConfig, trials: Sequence[Trial]) -> list[tuple[int, float]]:
    """``(trial number, best feasible value of the first objective up to it)`` once one exists."""
    objective = config.objectives[0]
    best, out = -math.inf, []
    for t in sorted(trials, key=lambda t: t.number):
        value = t.metrics.get(objective.metric)
        if _feasible(config, t) and value is not None and math.isfinite(value):
            best = max(best, value * objective.sign)
        if math.isfinite(best):
            out.append((t.number, best * objective.sign))
    return out


def front_pairs(config: ExperimentConfig, trials: Sequence[Trial]) -> list[tuple[str, str]]:
    """``(x, y)`` metric pairs to draw a front of: y is the first objective."""
    main = config.objectives[0].metric
    reported = {m for t in trials if t.state is TrialState.COMPLETE for m in t.metrics}
    pairs = [(o.metric, main) for o in config.objectives[1:]]
    pairs += [(cost, main) for cost in COST_METRICS if cost in reported and cost != main and (cost, main) not in pairs]
    return pairs


def feasible_front(config: ExperimentConfig, trials: Sequence[Trial], x: str, y: str) -> list[Trial]:
    """The trials on the Pareto front of (x, y) among complete trials that meet every constraint.

    A metric is maximised or minimised as its objective says; a cost metric that is no objective
    is minimised.
    """
    directions = {o.metric: o.sign for o in config.objectives}
    candidates = [t for t in trials if _feasible(config, t) and math.isfinite(t.metrics.get(x, math.nan)) and math.isfinite(t.metrics.get(y, math.nan))]
    idx = pareto_front([(t.metrics[x] * directions.get(x, -1.0), t.metrics[y] * directions.get(y, 1.0)) for t in candidates])
    return sorted((candidates[i] for i in idx), key=lambda t: t.metrics[x])


def importance(config: ExperimentConfig, trials: Sequence[Trial]) -> dict[str, float]:
    """For each choice, the share of the first objective's variance its values explain alone (η²)."""
    metric = config.objectives[0].metric
    done = [t for t in trials if t.state is TrialState.COMPLETE and math.isfinite(t.metrics.get(metric, math.nan))]
    if len(done) < 3:
        return {}
    values = [t.metrics[metric] for t in done]
    mean = sum(values) / len(values)
    total = sum((v - mean) ** 2 for v in values)
    if total == 0:
        return {}
    out = {}
    for name in sorted({k for t in done for k in t.architecture}):
        groups: dict[str, list[float]] = {}
        for t, v in zip(done, values, strict=True):
            groups.setdefault(repr(t.architecture.to_dict().get(name)), []).append(v)
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
        out[name] = between / total
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _scatter(name: str, trials: Sequence[Trial], x: Any, y: str, colour: str, symbol: str, hover: Mapping[int, str], mode: str = "markers") -> dict[str, Any]:
    xs = [x(t) if callable(x) else t.metrics[x] for t in trials]
    return {
        "type": "scatter", "mode": mode, "name": name,
        "x": xs, "y": [t.metrics[y] for t in trials],
        "text": [hover[t.number] for t in trials], "hovertemplate": "%{text}<extra></extra>",
        "customdata": [t.number for t in trials],
        "marker": {"color": colour, "symbol": symbol, "size": 9 if symbol != "circle" else 8, "opacity": 0.85},
        "line": {"color": colour},
    }


def _layout(title: str, x: str, y: str, log_x: bool = False) -> dict[str, Any]:
    return {
        "title": {"text": title}, "height": 420, "hovermode": "closest", "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "xaxis": {"title": {"text": x}, "type": "log" if log_x else "linear"}, "yaxis": {"title": {"text": y}},
        "legend": {"orientation": "h", "y": -0.2},
    }


def figures(config: ExperimentConfig, trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Every plot as a Plotly figure (plain JSON: ``id``, ``data``, ``layout``)."""
    main = config.objectives[0].metric
    hover = {t.number: _hover(config, t) for t in trials}
    reporting = [t for t in trials if t.state is TrialState.COMPLETE and math.isfinite(t.metrics.get(main, math.nan))]
    feasible = [t for t in reporting if _feasible(config, t)]
    infeasible = [t for t in reporting if not _feasible(config, t)]
    out = []
    curve = best_so_far(config, trials)
    data = [
        {"type": "scatter", "mode": "lines", "name": "best feasible so far", "x": [n for n, _ in curve], "y": [v for _, v in curve],
         "line": {"shape": "hv", "color": COLOURS["curve"], "width": 3}, "hovertemplate": f"after trial %{{x}}: best {html.escape(main)} %{{y}}<extra></extra>"},
        _scatter("feasible trial", feasible, lambda t: t.number, main, COLOURS["feasible"], "circle", hover),
    ]
    if infeasible:
        data.append(_scatter("breaks a constraint", infeasible, lambda t: t.number, main, COLOURS["infeasible"], "x", hover))
    out.append({"id": "best-so-far", "data": data, "layout": _layout(f"Best {main} so far", "trial", main)})
    for x, y in front_pairs(config, trials):
        points = [t for t in reporting if math.isfinite(t.metrics.get(x, math.nan))]
        good = [t for t in points if _feasible(config, t)]
        bad = [t for t in points if not _feasible(config, t)]
        front = feasible_front(config, trials, x, y)
        data = [_scatter("feasible trial", good, x, y, COLOURS["feasible"], "circle", hover)]
        if bad:
            data.append(_scatter("breaks a constraint (never on the front)", bad, x, y, COLOURS["infeasible"], "x", hover))
        data.append(_scatter("Pareto front (feasible)", front, x, y, COLOURS["front"], "diamond", hover, mode="lines+markers"))
        log_x = x in ("params", "flops") and all(t.metrics[x] > 0 for t in points)
        title = f"Pareto front: {y} vs {x}" + (f" (latency: {latency_source(config.evaluator.name, config.evaluator.options)})" if x == "latency_ms" else "")
        out.append({"id": f"front-{x}", "data": data, "layout": _layout(title, x + (" (log)" if log_x else ""), y, log_x)})
    shares = importance(config, trials)
    if shares:
        names = list(shares)[:12]
        dims = []
        for name in names:
            labels = sorted({repr(t.architecture.to_dict().get(name, None)) for t in reporting})
            position = {label: i for i, label in enumerate(labels)}
            dims.append({"label": name, "values": [position[repr(t.architecture.to_dict().get(name, None))] for t in reporting],
                         "tickvals": list(range(len(labels))), "ticktext": [("(inactive)" if label == "None" else label.strip("'")) for label in labels]})
        dims.append({"label": main, "values": [t.metrics[main] for t in reporting]})
        values = [t.metrics[main] for t in reporting]
        out.append({"id": "space", "data": [{"type": "parcoords", "line": {"color": values, "colorscale": "Viridis", "showscale": True}, "dimensions": dims}],
                    "layout": {"title": {"text": f"Search space: each trial's choices, coloured by {main}"}, "height": 460, "margin": {"l": 80, "r": 80, "t": 80, "b": 40}}})
        out.append({"id": "importance", "data": [{"type": "bar", "orientation": "h", "x": [shares[n] for n in names][::-1], "y": names[::-1],
                                                  "hovertemplate": "%{y}: explains %{x:.0%} of the variance<extra></extra>", "marker": {"color": COLOURS["feasible"]}}],
                    "layout": {"title": {"text": f"Share of {main}'s variance each choice explains on its own (η²)"}, "height": 120 + 28 * len(names),
                               "xaxis": {"range": [0, 1], "tickformat": ".0%"}, "margin": {"l": 140, "r": 20, "t": 50, "b": 40}}})
    return out


# -- tables -----------------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(f"<tr class='{classes[i] if i < len(classes) else ''}'>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for i, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def deploy_rows(directory: Path) -> list[dict[str, Any]]:
    """The rows the after-search pipeline wrote to ``deploy/summary.json`` (none when it did not run)."""
    path = Path(directory) / "deploy" / "summary.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


DEPLOY_COLUMNS = (
    ("accuracy", "accuracy", "acc %"), ("params", "params", "params"), ("flops", "flops", "FLOPs"), ("file_kb", "", "KB"),
    ("ort_latency_ms", "", "latency ms (onnxruntime)"), ("latency_spread_ms", "", "spread ms"), ("speedup", "", "speedup"),
)


def deploy_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    body, classes = [], []
    for r in rows:
        fmt = r.get("format")
        model = html.escape(f"{r.get('variant', '?')} {fmt or ''}".strip())
        file = html.escape(Path(str(r["file"])).name) if r.get("file") else ("<b>parity check failed: not exported</b>" if "parity_error" in r else "-")
        cells = [html.escape(str(r.get("trial", ""))), model, file]
        for key, metric, _ in DEPLOY_COLUMNS:
            value = r.get(key, r.get("torch_test_accuracy") if key == "accuracy" else None)
            cells.append(f"{human(value)}x" if key == "speedup" and value is not None else human(value, metric))
        verdict = "recommended" if r.get("recommended") else ("dominated" + (f" by {html.escape(str(r['dominated_by']))}" if r.get("dominated_by") else "") if r.get("dominated") else "")
        cells.append(verdict)
        body.append(cells)
        classes.append("recommended" if r.get("recommended") else ("dominated" if r.get("dominated") else ""))
    headers = ["trial", "model", "file", *(h for _, _, h in DEPLOY_COLUMNS), ""]
    reason = next((r.get("recommendation") for r in rows if r.get("recommendation")), "")
    threads = next((r.get("ort_threads") for r in rows if r.get("ort_threads")), None)
    note = f"<p class='note'>latency: onnxruntime on this machine's CPU, batch 1{f', intra_op_num_threads={threads}' if threads else ''}; speedup against the uncompressed fp32 ONNX file.</p>"
    return "<h2>Deployable models</h2>" + _table(headers, body, classes) + note + (f"<p><b>recommended:</b> {html.escape(str(reason))}</p>" if reason else "")


def trials_table(config: ExperimentConfig, trials: Sequence[Trial]) -> str:
    metrics = [o.metric for o in config.objectives]
    present = {m for t in trials for m in t.metrics}
    metrics += sorted(m for m in present if m not in metrics)
    latency = latency_source(config.evaluator.name, config.evaluator.options)
    rows, classes = [], []
    for t in sorted(trials, key=lambda t: t.number):
        state = t.state.value
        if t.state is TrialState.COMPLETE and not _feasible(config, t):
            state = "infeasible: breaks " + ", ".join(_violations(config, t))
        elif t.error:
            state = f"{state}: {t.error}"
        rows.append([str(t.number), html.escape(state), *(human(t.metrics.get(m), m) for m in metrics), f"<code>{html.escape(_arch_text(t))}</code>"])
        classes.append("infeasible" if t.state is TrialState.COMPLETE and not _feasible(config, t) else t.state.value)
    return "<h2>Trials</h2>" + _table(["#", "state", *(metric_label(m, latency) for m in metrics), "architecture"], rows, classes)


def summary_html(config: ExperimentConfig, trials: Sequence[Trial], directory: Path, status: str) -> str:
    counts = {s.value: sum(1 for t in trials if t.state is s) for s in TrialState}
    infeasible = sum(1 for t in trials if t.state is TrialState.COMPLETE and not _feasible(config, t))
    parts = [f"{len(trials)} trials"] + [f"{v} {k}" for k, v in counts.items() if v]
    if infeasible:
        parts.append(f"{infeasible} of the complete ones break a constraint")
    objectives = ", ".join(f"{o.metric} ({o.direction})" for o in config.objectives)
    constraints = ", ".join(str(c) for c in config.constraints) or "none"
    return (f"<p><code>{html.escape(str(directory))}</code> — {html.escape(status or 'unknown')}</p>"
            f"<p>{html.escape('; '.join(parts))}. Objectives: {html.escape(objectives)}. Constraints: {html.escape(constraints)}. "
            f"Strategy {html.escape(config.strategy.name)}, evaluator {html.escape(config.evaluator.name)}.</p>")


def page_parts(config: ExperimentConfig, trials: Sequence[Trial], directory: Path, status: str = "") -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (also what the live page fetches)."""
    return {
        "summary": summary_html(config, trials, directory, status),
        "figures": figures(config, trials),
        "tables": deploy_table(deploy_rows(directory)) + trials_table(config, trials),
    }


# -- the page -----------------------------------------------------------------------------------------
def plotly_js() -> str | None:
    """Plotly's JavaScript bundle, or None when the plotly package is missing."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        return None
    return get_plotlyjs()


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
td:last-child,td:nth-child(2){text-align:left}
tr.infeasible{background:#fff3e0} tr.failed{background:#fdecea} tr.dominated{color:#888} tr.recommended{background:#e8f5e9}
code{white-space:nowrap} .warning{background:#fdecea;border:2px solid #d62728;padding:.6em 1em;font-weight:bold}
.plot{max-width:1100px} .note{color:#555;font-size:13px}
"""

_SCRIPT = """
function nfApply(parts) {
  document.getElementById('nf-summary').innerHTML = parts.summary;
  document.getElementById('nf-tables').innerHTML = parts.tables;
  if (typeof Plotly === 'undefined') return;
  const box = document.getElementById('nf-plots');
  for (const fig of parts.figures) {
    let div = document.getElementById('plot-' + fig.id);
    if (!div) { div = document.createElement('div'); div.id = 'plot-' + fig.id; div.className = 'plot'; box.appendChild(div); }
    Plotly.react(div, fig.data, fig.layout, {displaylogo: false, responsive: true});
  }
}
nfApply(NF_DATA);
if (NF_LIVE) {
  setInterval(async () => {
    try {
      const response = await fetch('data.json', {cache: 'no-store'});
      if (response.ok) { nfApply(await response.json()); document.getElementById('nf-live').textContent = 'live: refreshed ' + new Date().toLocaleTimeString(); }
    } catch (err) { document.getElementById('nf-live').textContent = 'live: the server stopped (' + err + ')'; }
  }, NF_INTERVAL_MS);
}
"""


def _json_for_script(value: Any) -> str:
    return json.dumps(value, allow_nan=False, default=str).replace("</", "<\\/")


def _finite(value: Any) -> Any:
    """JSON has no NaN: non-finite numbers become null (drawn as gaps)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def render_report(config: ExperimentConfig, trials: Sequence[Trial], directory: Path, status: str = "", live_interval: float | None = None) -> str:
    """The whole page as a string; ``live_interval`` (seconds) makes it poll ``data.json``."""
    parts = _finite(page_parts(config, trials, Path(directory), status))
    js = plotly_js()
    warning = "" if js is not None else f"<p class='warning'>{html.escape(PLOTLY_MISSING)}</p>"
    live = f"<p id='nf-live' class='note'>live: refreshing every {live_interval:g} s from the experiment's store</p>" if live_interval else "<p id='nf-live'></p>"
    script = (f"const NF_DATA = {_json_for_script(parts)};\nconst NF_LIVE = {'true' if live_interval else 'false'};\n"
              f"const NF_INTERVAL_MS = {int((live_interval or 0) * 1000)};\n{_SCRIPT}")
    plotly = f"<script>{js}</script>" if js is not None else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(config.name)} — nasforge report</title>"
            f"<style>{_STYLE}</style>{plotly}</head><body><h1>{html.escape(config.name)}</h1>{warning}{live}"
            f"<div id='nf-summary'></div><div id='nf-plots'></div><div id='nf-tables'></div><script>{script}</script></body></html>")


def write_report(directory: Path, config: ExperimentConfig, trials: Sequence[Trial], status: str = "") -> Path:
    path = Path(directory) / "report.html"
    path.write_text(render_report(config, trials, Path(directory), status), encoding="utf-8")
    return path


def load_experiment(directory: str | Path) -> tuple[ExperimentConfig, list[Trial], str]:
    """Config, trials and status of an experiment folder, read through a read-only connection."""
    from nasforge.core.config import validate_config
    from nasforge.core.errors import UserError
    from nasforge.core.store import Store

    with Store(directory, read_only=True) as store:
        raw = store.get_meta("config")
        trials = store.trials()
        status = store.get_meta("status", "")
    if raw is None:
        raise UserError(f"{str(directory)!r} has no stored config; it was not made by 'nasforge run'")
    return validate_config(raw, source=f"the config stored in {directory}"), trials, status


# -- commands -----------------------------------------------------------------------------------------
def serve(directory: Path, port: int = 8765, interval: float = 2.0, open_browser: bool = False) -> None:
    """Serve the live page on 127.0.0.1 until interrupted (each request re-reads the store)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from nasforge.core.errors import UserError

    load_experiment(directory)  # a wrong folder fails here, before a server starts

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            try:
                config, trials, status = load_experiment(directory)
                if path in ("/", "/index.html"):
                    body, kind = render_report(config, trials, directory, status, live_interval=interval).encode(), "text/html; charset=utf-8"
                elif path == "/data.json":
                    body, kind = _json_for_script(_finite(page_parts(config, trials, directory, status))).encode(), "application/json"
                else:
                    self.send_error(404)
                    return
            except Exception as exc:  # keep serving; say what went wrong
                self.send_error(500, explain=f"{type(exc).__name__}: {exc}")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"serving {directory} at {url} (refreshing every {interval:g} s; Ctrl-C stops)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class ReportCommand:
    """Write an interactive HTML report (best-so-far curve, Pareto fronts, space, deploy table, every trial)."""

    def configure(self, parser: Any) -> None:
        parser.add_argument("directory", help="the experiment folder")
        parser.add_argument("--out", help="where to write the HTML (default DIR/report.html)")
        parser.add_argument("--serve", action="store_true", help="serve a live page on 127.0.0.1 that refreshes from the store while the run goes on")
        parser.add_argument("--port", type=int, default=8765, help="port for --serve (default 8765; 0 picks a free one)")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes of the live page (default 2)")
        parser.add_argument("--open", action="store_true", help="with --serve: open the page in a browser")

    def run(self, args: Any) -> int:
        if getattr(args, "serve", False):
            if plotly_js() is None:
                print(f"warning: {PLOTLY_MISSING}", file=sys.stderr)
            serve(Path(args.directory), args.port, args.interval, args.open)
            return 0
        config, trials, status = load_experiment(args.directory)
        text = render_report(config, trials, Path(args.directory), status)
        if plotly_js() is None:
            print(f"warning: {PLOTLY_MISSING}", file=sys.stderr)
        out = Path(args.out) if args.out else Path(args.directory) / "report.html"
        out.write_text(text, encoding="utf-8")
        print(out)
        return 0


class DashboardCommand(ReportCommand):
    """Serve a live report of an experiment on 127.0.0.1 (``nasforge report DIR --serve``)."""

    def run(self, args: Any) -> int:
        args.serve = True
        return super().run(args)
