from __future__ import annotations

import subprocess
import sys


def test_importing_the_plugin_does_not_import_torch_or_transformers():
    # `nasforge --help` imports every plugin module: this one must stay light
    code = (
        "import sys, nasforge_transformers, nasforge_transformers.plugin;"
        "heavy = sorted(m for m in ('torch', 'transformers', 'tokenizers', 'safetensors') if m in sys.modules);"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_the_plugin_is_found_through_its_entry_point():
    from importlib.metadata import entry_points

    points = {ep.name: ep.value for ep in entry_points(group="nasforge")}
    assert points.get("transformers") == "nasforge_transformers.plugin"
