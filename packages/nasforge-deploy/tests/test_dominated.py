"""The deploy table marks files another one beats and recommends one, robustly to timing noise."""

import pytest

from nasforge.deploy.pipeline import mark_dominated, summary_table


def _row(variant, fmt, accuracy, kb, ms, spread=0.01):
    return {"trial": 0, "variant": variant, "format": fmt, "file": f"/x/{variant}-{fmt}.onnx", "accuracy": accuracy, "file_kb": kb,
            "ort_latency_ms": ms, "latency_spread_ms": spread, "params": 1e4, "flops": 1e6, "torch_test_accuracy": accuracy}


def test_slower_int8_file_that_is_no_more_accurate_is_marked_dominated_and_the_fastest_good_file_recommended():
    rows = [
        _row("uncompressed", "onnx", 0.978, 400, 0.20),
        _row("uncompressed", "onnx-int8", 0.975, 120, 0.35),   # smaller but slower: not dominated (smaller)
        _row("channel", "onnx", 0.975, 110, 0.08),             # beats the int8 file on every axis
        _row("channel", "onnx-int8", 0.960, 40, 0.12),
    ]
    mark_dominated(rows)
    assert rows[1]["dominated"] and rows[1]["dominated_by"] == "channel fp32"
    assert not rows[0].get("dominated") and not rows[2].get("dominated") and not rows[3].get("dominated")
    assert rows[2]["recommended"] and "channel fp32" in rows[2]["recommendation"] and "2.50x the speed" in rows[2]["recommendation"]
    assert sum(bool(r.get("recommended")) for r in rows) == 1


def test_a_latency_difference_within_the_measured_spread_does_not_dominate():
    rows = [_row("a", "onnx", 0.9, 100, 0.100, spread=0.03), _row("b", "onnx", 0.9, 100, 0.110, spread=0.03)]
    mark_dominated(rows)
    assert not any(r.get("dominated") for r in rows)
    rows = [_row("a", "onnx", 0.9, 100, 0.100, spread=0.003), _row("b", "onnx", 0.9, 100, 0.110, spread=0.003)]
    mark_dominated(rows)
    assert rows[1]["dominated"] and not rows[0].get("dominated")


def test_the_summary_names_the_recommendation_and_the_dominated_files():
    from rich.console import Console

    rows = [_row("uncompressed", "onnx", 0.978, 400, 0.20), _row("uncompressed", "onnx-int8", 0.975, 420, 0.35)]
    mark_dominated(rows)
    console = Console(width=160, record=True, color_system=None)
    console.print(summary_table(rows))
    text = console.export_text()
    assert "dominated by uncompressed fp32" in text and "recommended: uncompressed fp32" in text and "97.80%" in text


@pytest.mark.parametrize("several", [False, True])
def test_the_summary_keeps_every_number_readable_at_80_columns(several):
    """A CI log or a pipe is 80 columns wide: the table once squeezed every column to nothing there."""
    from rich.console import Console

    rows = [_row("uncompressed", "onnx", 0.9889, 40.2, 0.0496, spread=0.0011), _row("uncompressed", "onnx-int8", 0.9805, 21.7, 0.0512),
            _row("channel", "onnx", 0.8524, 18.3, 0.0371), _row("channel", "onnx-int8", 0.0, 0.0, 0.0)]
    rows[3]["parity_error"] = "parity FAIL on 256 samples: max |diff| 2.12, argmax agreement 0.8828 (min 0.9) " + "x" * 120
    if several:
        for i, r in enumerate(rows):
            r["trial"] = 100 + i % 2
    for r in rows[:3]:
        r["speedup"] = 0.0496 / r["ort_latency_ms"]
        r["ort_threads"] = 1
    mark_dominated(rows)
    console = Console(width=80, record=True, color_system=None)
    console.print(summary_table(rows))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for value in ("98.89%", "98.05%", "85.24%", "40.2", "21.7", "0.0496 ±2%", "0.0371", "1.34x", "recommended", "parity", "argmax agreement 0.8828"):
        assert value in text, value
    assert "uncompressed" in text and "channel" in text and "…" not in text
