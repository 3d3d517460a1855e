"""Model cards: a small JSON (and Markdown) file written next to every exported model.

``<name>.card.json`` describes ``<name>.onnx``: what it is (variant, inputs, outputs, opset),
where it came from (package versions, source config/architecture/checkpoint, date), whether it
is intact (SHA-256, size), and how good and fast it is (parity with PyTorch, accuracy metrics,
quantization settings, benchmark summary). Schema: ``format`` is ``nasforge-model-card/1``; the
keys are documented in docs/export.md.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError
from nasforge.export._common import sha256_file

CARD_FORMAT = "nasforge-model-card/1"


def card_path_for(model_path: str | os.PathLike) -> Path:
    """``dir/name.onnx`` -> ``dir/name.card.json``."""
    path = Path(model_path)
    return path.with_name(path.stem + ".card.json")


def provenance(source: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Versions of everything that shaped the file, the date, and the caller's ``source`` facts."""
    import onnx
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        ort_version = None
    versions = {}
    for dist in ("nasforge-core", "nasforge-export"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nasforge": versions,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort_version,
        "python": platform.python_version(),
        "source": dict(source or {}),
        **extra,
    }


@dataclass
class ModelCard:
    """The card of one exported file. Build it, then :meth:`write` it next to the file."""

    model_path: Path
    variant: str  # "fp32", "int8", "fp16"
    inputs: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "shape", "dtype"}]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    opset: int | None = None
    provenance: dict[str, Any] = field(default_factory=provenance)
    parity: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None
    benchmark: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def for_file(cls, model_path: str | os.PathLike, variant: str, **fields: Any) -> ModelCard:
        """A card with inputs, outputs and opset read from the ONNX file itself."""
        import onnx

        path = Path(model_path)
        proto = onnx.load(str(path), load_external_data=False)

        def describe(values) -> list[dict[str, Any]]:
            out = []
            for v in values:
                t = v.type.tensor_type
                shape = [d.dim_param or d.dim_value for d in t.shape.dim]
                out.append({"name": v.name, "shape": shape, "dtype": onnx.TensorProto.DataType.Name(t.elem_type).lower()})
            return out

        initializers = {i.name for i in proto.graph.initializer}
        opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
        return cls(
            model_path=path,
            variant=variant,
            inputs=describe([i for i in proto.graph.input if i.name not in initializers]),
            outputs=describe(proto.graph.output),
            opset=int(opset) if opset is not None else None,
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (file hash and size are computed now)."""
        if not self.model_path.is_file():
            raise UserError(f"cannot describe {self.model_path}: the file does not exist")
        return {
            "format": CARD_FORMAT,
            "name": self.model_path.stem,
            "file": self.model_path.name,
            "variant": self.variant,
            "sha256": sha256_file(self.model_path),
            "size_bytes": self.model_path.stat().st_size,
            "opset": self.opset,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "provenance": self.provenance,
            "parity": self.parity,
            "metrics": self.metrics,
            "quantization": self.quantization,
            "benchmark": self.benchmark,
            "notes": self.notes,
        }

    def write(self, markdown: bool = True) -> Path:
        """Write ``<name>.card.json`` (and ``<name>.card.md``) next to the model; returns the JSON path."""
        data = self.to_dict()
        path = card_path_for(self.model_path)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        if markdown:
            path.with_suffix(".md").write_text(render_markdown(data))
        return path


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """Load a card (give the card or the model path) and check its format."""
    path = Path(path)
    if path.suffix == ".onnx":
        path = card_path_for(path)
    if not path.is_file():
        raise UserError(f"no model card at {path}")
    data = json.loads(path.read_text())
    if data.get("format") != CARD_FORMAT:
        raise UserError(f"{path} is not a nasforge model card (format {data.get('format')!r}, expected {CARD_FORMAT!r})")
    return data


def verify_card(path: str | os.PathLike) -> bool:
    """True when the model file next to the card still has the SHA-256 the card records."""
    data = read_card(path)
    card = Path(path) if Path(path).suffix != ".onnx" else card_path_for(path)
    model = card.with_name(data["file"])
    return model.is_file() and sha256_file(model) == data["sha256"]


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_markdown(data: dict[str, Any]) -> str:
    """A short human-readable version of a card."""
    prov = data["provenance"]
    lines = [
        f"# {data['name']} ({data['variant']})",
        "",
        f"- file: `{data['file']}` ({data['size_bytes']:,} bytes, sha256 `{data['sha256'][:16]}…`)",
        f"- opset {data['opset']}; created {prov.get('created')}",
        f"- torch {prov.get('torch')}, onnx {prov.get('onnx')}, onnxruntime {prov.get('onnxruntime')}, "
        f"nasforge-export {prov.get('nasforge', {}).get('nasforge-export')}",
    ]
    for item in data["inputs"]:
        lines.append(f"- input `{item['name']}`: {item['dtype']} {item['shape']}")
    for item in data["outputs"]:
        lines.append(f"- output `{item['name']}`: {item['dtype']} {item['shape']}")
    if prov.get("source"):
        lines.append(f"- source: {json.dumps(prov['source'], default=str)}")
    if data.get("parity"):
        p = data["parity"]
        lines.append(f"- parity vs PyTorch ({p.get('samples')} samples): max |diff| {_fmt(p.get('max_abs_diff'))}, argmax agreement {_fmt(p.get('argmax_agreement'))}, passed {p.get('passed')}")
    for key, value in (data.get("metrics") or {}).items():
        lines.append(f"- {key}: {_fmt(value)}")
    if data.get("quantization"):
        lines.append(f"- quantization: {json.dumps(data['quantization'], default=str)}")
    if data.get("benchmark"):
        lines += ["", "| engine | provider | batch | threads | median ms | p90 ms |", "|---|---|---|---|---|---|"]
        for r in data["benchmark"]:
            lines.append(f"| {r['engine']} | {r['provider']} | {r['batch_size']} | {r['threads']} | {r['median_ms']} | {r['p90_ms']} |")
    for note in data.get("notes") or []:
        lines.append(f"\n> {note}")
    return "\n".join(lines) + "\n"
