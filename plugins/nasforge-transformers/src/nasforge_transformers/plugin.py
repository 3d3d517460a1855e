"""nasforge plugin entry point (group ``nasforge``) of nasforge-transformers.

Keep this module light: ``nasforge --help`` imports every plugin module, so nothing here may
import torch or transformers at module level. The provider hooks import their classes when the
registry is filled (exporters and compressors subclass nasforge-export's and
nasforge-compression's bases, which import torch, never transformers).
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
    from nasforge_transformers.supernet import MultiTrialEvaluator, OneShotEvaluator

    register("transformer_oneshot", OneShotEvaluator, "Train an elastic transformer super-network once, then score sub-networks with inherited weights in seconds")
    register("transformer_multitrial", MultiTrialEvaluator, "Extract each transformer sub-network and fine-tune it with distillation for a few hundred steps")


@hookimpl
def nasforge_register_exporters(register: Any) -> None:
    from nasforge_transformers.export import TransformerOnnxExporter, TransformerOnnxInt8Exporter

    register(TransformerOnnxExporter.name, TransformerOnnxExporter, "Transformer to ONNX with dynamic batch and sequence axes, onnxruntime transformer fusion, parity-checked")
    register(TransformerOnnxInt8Exporter.name, TransformerOnnxInt8Exporter, "Transformer to int8 ONNX: dynamic (default) or static QDQ calibrated on token ids")


@hookimpl
def nasforge_register_compressors(register: Any) -> None:
    from nasforge_transformers.compress import COMPRESSORS

    for cls in COMPRESSORS:
        register(cls.name, cls, (cls.__doc__ or "").strip().splitlines()[0] + " (transformers, importance-ranked)")


@hookimpl
def nasforge_register_deploy_adapters(register: Any) -> None:
    from nasforge_transformers.deploy import TransformerDeployment

    for evaluator in ("transformer_oneshot", "transformer_multitrial"):
        register(evaluator, TransformerDeployment, "extract the winning sub-network into a smaller Hugging Face model; SST-2/TREC/CSV data")


@hookimpl
def nasforge_register_commands(register: Any) -> None:
    from nasforge_transformers.cli import ShrinkCommand

    register("shrink", ShrinkCommand(), "Prune a Hugging Face transformer (heads, FFN neurons, layers); perplexity or accuracy before/after")
