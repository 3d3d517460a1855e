"""nasforge plugin entry point (group ``nasforge``) of nasforge-transformers.

Keep this module light: ``nasforge --help`` imports every plugin module, so nothing here may
import torch or transformers at module level. Evaluators, exporters and compressors are registered
by reference (``"module:Class"``), imported when a config uses them, so ``nasforge plugins`` stays
fast too.
"""

from __future__ import annotations

from typing import Any

from nasforge.core.hookspecs import hookimpl


@hookimpl
def nasforge_register_spaces(register: Any) -> None:
    from nasforge_transformers.subnet_space import transformer_subnet_space

    register("transformer_subnet", transformer_subnet_space, "Sub-networks of a pretrained BERT-family encoder: layers kept, heads and FFN width per layer (fractions)")


@hookimpl
def nasforge_register_evaluators(register: Any) -> None:
    register("transformer_oneshot", "nasforge_transformers.supernet:OneShotEvaluator", "Train an elastic transformer super-network once, then score sub-networks with inherited weights in seconds")
    register("transformer_multitrial", "nasforge_transformers.supernet:MultiTrialEvaluator", "Extract each transformer sub-network and fine-tune it with distillation for a few hundred steps")


@hookimpl
def nasforge_register_exporters(register: Any) -> None:
    register("transformer-onnx", "nasforge_transformers.export:TransformerOnnxExporter", "Transformer to ONNX with dynamic batch and sequence axes, onnxruntime transformer fusion, parity-checked")
    register("transformer-onnx-int8", "nasforge_transformers.export:TransformerOnnxInt8Exporter", "Transformer to int8 ONNX: dynamic (default) or static QDQ calibrated on token ids")


#: The compressors of nasforge_transformers.compress, by reference (torch is imported on first use).
COMPRESSORS = {
    "transformer-heads": ("HeadPruner", "Remove the least important attention heads (query/key/value rows and output columns)"),
    "transformer-ffn": ("FFNPruner", "Remove the least important FFN neurons (up-projection rows, down-projection columns)"),
    "transformer-layers": ("LayerDropper", "Drop the least important whole layers (``num_layers`` of them, or ``ratio`` of all)"),
}


@hookimpl
def nasforge_register_compressors(register: Any) -> None:
    for name, (cls, description) in COMPRESSORS.items():
        register(name, f"nasforge_transformers.compress:{cls}", description + " (transformers, importance-ranked)")


@hookimpl
def nasforge_register_deploy_adapters(register: Any) -> None:
    for evaluator in ("transformer_oneshot", "transformer_multitrial"):
        register(evaluator, "nasforge_transformers.deploy:TransformerDeployment", "extract the winning sub-network into a smaller Hugging Face model; SST-2/TREC/CSV data")


@hookimpl
def nasforge_register_commands(register: Any) -> None:
    from nasforge_transformers.cli import ShrinkCommand

    register("shrink", ShrinkCommand(), "Prune a Hugging Face transformer (heads, FFN neurons, layers); perplexity or accuracy before/after")
