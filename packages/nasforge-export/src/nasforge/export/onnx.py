"""Export any PyTorch model to one self-contained, checked ``.onnx`` file.

:func:`export_onnx` is the entry point. It

1. puts the model in eval mode (and restores every submodule's own mode afterwards);
2. runs the model once on the sample inputs, so a model that fails or returns something other
   than tensors is reported before the exporter's long error output;
3. exports with the ``torch.export``-based exporter (``exporter="dynamo"``, the default and the
   path PyTorch maintains) or, on request, the legacy TorchScript tracer
   (``exporter="torchscript"``; it silently bakes data-dependent branches into the graph, so it
   is never used as a silent fallback);
4. writes the weights *inside* the file (no external-data side file) and validates it with
   :func:`onnx.checker.check_model` (``full_check=True``, which also runs shape inference).

Batch dimension 0 of every input is symbolic (``batch``) unless ``dynamic_batch=False``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx
import torch

from nasforge.core.errors import UserError
from nasforge.export._common import as_path, as_tensor_tuple, batch_size_of, quiet_torch_export, sha256_file
from nasforge.torchutils import eval_mode, model_device

EXPORTERS = ("dynamo", "torchscript")
_PROTOBUF_LIMIT = 2 * 1024**3


class ExportError(UserError):
    """The model could not be exported (untraceable code, unsupported operator, bad outputs)."""


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote: the file and how it was made."""

    path: Path
    exporter: str
    opset: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    input_shapes: tuple[tuple[int | str, ...], ...]  # as stored in the file; "batch" where symbolic
    dynamic_batch: bool
    size_bytes: int
    sha256: str
    torch_outputs: tuple[tuple[int, ...], ...] = field(default=())  # output shapes on the sample inputs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings, tuples as lists)."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def export_onnx(
    model: torch.nn.Module,
    sample_inputs: Any,
    path: str | os.PathLike,
    dynamic_batch: bool = True,
    opset: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    *,
    exporter: str = "dynamo",
    dynamic_dims: Mapping[int, str] | None = None,
) -> OnnxExport:
    """Export ``model`` to a single ``.onnx`` file at ``path`` and check it.

    :param model: any :class:`torch.nn.Module`; it is run in eval mode and its modes are restored.
    :param sample_inputs: a tensor (or numpy array), or a tuple of them for a model with several
        positional inputs; dimension 0 is the batch.
    :param path: the file to write (parent folders are created). Weights are embedded in it.
    :param dynamic_batch: make dimension 0 of every input and output symbolic (``batch``).
    :param opset: the ONNX opset to target; ``None`` lets the exporter pick its recommended one.
    :param input_names: graph input names (default ``input`` or ``input_0``, ``input_1`` ...).
    :param output_names: graph output names (default ``output`` or ``output_0`` ...).
    :param exporter: ``"dynamo"`` (``torch.export``-based, default) or ``"torchscript"``.
    :param dynamic_dims: more symbolic dimensions besides the batch, the same for every input, as
        ``{dimension: name}`` (e.g. ``{1: "sequence"}`` for token sequences of any length).
        ``None`` takes the model's ``onnx_dynamic_dims`` attribute when it has one (the text
        models of nasforge-trainer set it), so callers that only pass the model get it right.
    :raises ExportError: (a :class:`~nasforge.core.errors.UserError`) naming the cause when the
        model cannot be run, traced or converted, or the result fails the ONNX checker.
    """
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"export_onnx needs a torch.nn.Module, got {type(model).__name__}")
    if exporter not in EXPORTERS:
        raise UserError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    device = model_device(model)
    inputs = tuple(t.to(device) for t in as_tensor_tuple(sample_inputs))  # trace where the model lives
    batch = batch_size_of(inputs)
    path = as_path(path, "path")
    path.parent.mkdir(parents=True, exist_ok=True)
    in_names = _names(input_names, len(inputs), "input", "input_names")
    extra_dims = _dynamic_dims(model, dynamic_dims, inputs)

    with eval_mode(model), torch.no_grad():
        outputs = _run_once(model, inputs)
        out_names = _names(output_names, len(outputs), "output", "output_names")
        out_shapes = tuple(tuple(int(d) for d in o.shape) for o in outputs)
        if exporter == "dynamo":
            _export_dynamo(model, inputs, batch, path, dynamic_batch, opset, in_names, out_names, extra_dims)
        else:
            _export_torchscript(model, inputs, path, dynamic_batch, opset, in_names, out_names, extra_dims)

    proto = _check_single_file(path, model)
    shapes = tuple(tuple(d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim) for i in proto.graph.input)
    if dynamic_batch:
        fixed = [name for name, shape in zip(in_names, shapes) if shape and not isinstance(shape[0], str)]
        if fixed:
            raise ExportError(
                f"exported {type(model).__name__} but the batch dimension of input(s) {fixed} came out fixed; "
                "the model probably reshapes with a literal batch size (use x.flatten(1) or x.view(x.size(0), -1)), "
                "or export with dynamic_batch=False"
            )
    for dim, name in extra_dims.items():
        fixed = [n for n, shape in zip(in_names, shapes) if len(shape) > dim and not isinstance(shape[dim], str)]
        if fixed:
            raise ExportError(f"exported {type(model).__name__} but dimension {dim} ({name!r}) of input(s) {fixed} came out fixed; the model uses that size as a constant")
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset is not None and opset_used != opset:
        # the torch.export-based exporter writes opset 18 at the least and does not say so
        raise ExportError(
            f"asked for opset {opset} but the {exporter} exporter wrote opset {opset_used}; "
            + ("the dynamo exporter supports opset >= 18: use exporter='torchscript' (CLI: --exporter torchscript) for an older opset"
               if exporter == "dynamo" else "choose an opset this torch version supports")
        )
    return OnnxExport(
        path=path,
        exporter=exporter,
        opset=int(opset_used),
        input_names=tuple(i.name for i in proto.graph.input),
        output_names=tuple(o.name for o in proto.graph.output),
        input_shapes=shapes,
        dynamic_batch=dynamic_batch,
        size_bytes=path.stat().st_size,
        sha256=sha256_file(path),
        torch_outputs=out_shapes,
    )


def _names(names: Sequence[str] | None, count: int, stem: str, what: str) -> list[str]:
    if names is None:
        return [stem] if count == 1 else [f"{stem}_{i}" for i in range(count)]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != count or len(set(names)) != count or not all(isinstance(n, str) and n for n in names):
        raise UserError(f"{what} must be {count} distinct non-empty names (the model has {count}), got {names!r}")
    return names


def _run_once(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Run the model on the sample inputs and flatten its outputs, or explain why export cannot work."""
    shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
    try:
        result = model(*inputs)
    except Exception as exc:  # the user's model code: report its own error
        raise ExportError(
            f"{type(model).__name__} failed on the sample inputs of shape {shapes}: {type(exc).__name__}: {exc}; "
            "check the input shape and dtype the model expects"
        ) from exc
    flat = _flatten_outputs(result, "output")
    if not flat:
        raise ExportError(f"{type(model).__name__} returned no tensors; ONNX export needs at least one tensor output")
    return flat


def _flatten_outputs(value: Any, where: str) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for i, v in enumerate(value) for t in _flatten_outputs(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _flatten_outputs(v, f"{where}[{k!r}]")]
    raise ExportError(
        f"the model returned a {type(value).__name__} at {where}; ONNX export needs forward() to return tensors "
        "(or tuples/lists/dicts of tensors), so return that value as a tensor or compute it outside the model"
    )


def _dynamic_dims(model: torch.nn.Module, dims: Mapping[int, str] | None, inputs: tuple[torch.Tensor, ...]) -> dict[int, str]:
    if dims is None:
        dims = getattr(model, "onnx_dynamic_dims", None) or {}
    out = {}
    for dim, name in dict(dims).items():
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or not isinstance(name, str) or not name or name == "batch":
            raise UserError(f"dynamic_dims must map input dimensions >= 1 to names other than 'batch', got {dict(dims)!r}")
        for t in inputs:
            if t.ndim <= dim or t.shape[dim] < 2:
                raise UserError(f"dynamic dimension {dim} ({name!r}) needs sample inputs with at least 2 entries there, got shape {tuple(t.shape)}")
        out[dim] = name
    return out


def _export_dynamo(model, inputs, batch, path, dynamic_batch, opset, in_names, out_names, extra_dims=None) -> None:
    args = inputs
    dynamic_shapes = None
    extra = {dim: torch.export.Dim(name) for dim, name in (extra_dims or {}).items()}
    if dynamic_batch or extra:
        if dynamic_batch and batch == 1:
            # torch.export specialises a size-1 dimension to the constant 1; trace with two rows instead.
            args = tuple(torch.cat([t, t]) for t in inputs)
        batch_dim = {0: torch.export.Dim("batch")} if dynamic_batch else {}
        dynamic_shapes = tuple({**batch_dim, **extra} for _ in args)
    try:
        with quiet_torch_export(), _fresh_rnn_dispatch():
            program = torch.onnx.export(
                model,
                args,
                None,
                dynamo=True,
                external_data=False,
                dynamic_shapes=dynamic_shapes,
                input_names=in_names,
                output_names=out_names,
                opset_version=opset,
                verbose=False,
            )
            program.save(path, external_data=False)
    except Exception as exc:
        raise ExportError(_explain(model, exc, dynamic_batch)) from exc


# The RNN operators whose decomposition torch.onnx.export swaps for a while-loop one when a shape is dynamic.
_RNN_OPS = ("lstm", "gru", "rnn_tanh", "rnn_relu")


@contextlib.contextmanager
def _fresh_rnn_dispatch() -> Iterator[None]:
    """Forget the cached dispatch of the RNN operators before and after a dynamo export.

    With dynamic shapes, ``torch.onnx.export`` registers while-loop decompositions of
    ``aten.lstm``/``aten.gru`` (``torch.export._patches``) by assigning the operator's
    ``py_kernels`` directly, which leaves the operator's dispatch cache alone. The first export
    then decomposes the graph after the patch is gone and caches the default decomposition, a
    Python loop over the time steps; every later export in the process reuses that cached
    kernel, unrolls the loop over the sample's length and fixes the sequence axis (seen with
    torch 2.9-2.14: the int8 exporter's second, float32 reference export of a text model failed).
    Clearing the caches makes each export resolve the kernel anew.
    """
    _clear_rnn_dispatch_caches()
    try:
        yield
    finally:
        _clear_rnn_dispatch_caches()


def _clear_rnn_dispatch_caches() -> None:
    for name in _RNN_OPS:
        packet = getattr(torch.ops.aten, name, None)
        for overload in (packet.overloads() if packet is not None else ()):
            cache = getattr(getattr(packet, overload), "_dispatch_cache", None)
            if isinstance(cache, dict):
                cache.clear()


def _export_torchscript(model, inputs, path, dynamic_batch, opset, in_names, out_names, extra_dims=None) -> None:
    axes_in = ({0: "batch"} if dynamic_batch else {}) | dict(extra_dims or {})
    dynamic_axes = {name: axes_in for name in in_names} | ({name: {0: "batch"} for name in out_names} if dynamic_batch else {})
    dynamic_axes = dynamic_axes or None
    try:
        with quiet_torch_export():
            torch.onnx.export(
                model,
                inputs,
                str(path),
                dynamo=False,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
            )
    except Exception as exc:
        raise ExportError(_explain(model, exc, dynamic_batch, exporter="torchscript")) from exc


def _explain(model: torch.nn.Module, exc: BaseException, dynamic_batch: bool, exporter: str = "dynamo") -> str:
    """One paragraph naming the root cause, the user's line of code (when known) and what to try."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    root = chain[-1]
    for candidate in chain:  # prefer the deepest error that is not the exporter's own wrapper
        if not type(candidate).__module__.startswith("torch.onnx"):
            root = candidate
            break
    first = str(root).strip().splitlines()[0] if str(root).strip() else ""
    text = "\n".join(str(e) for e in chain)
    where = ""
    match = re.search(r'File "([^"]+)", line (\d+), in (\w+)\n\s*(.+)', text)
    if match:
        where = f" at {Path(match.group(1)).name}:{match.group(2)} in {match.group(3)}(): {match.group(4).strip()}"
    kind = type(root).__name__
    hint = "simplify the model's forward or try exporter='torchscript'"
    if "DataDependent" in kind or "data-dependent" in text:
        hint = (
            "forward() branches on tensor values (Python if/while on a tensor); express it with torch.where "
            "or torch.cond, or move the decision out of the model"
        )
    elif "Constraints violated" in text or "specialized" in text:
        hint = (
            "the model fixes the batch size (e.g. a reshape with a literal batch); use x.flatten(1) "
            "or x.view(x.size(0), -1), or export with dynamic_batch=False"
            if dynamic_batch
            else "a dimension of the inputs is constrained by the model"
        )
    elif "Unsupported" in text or "no symbolic" in text.lower() or "not supported" in text.lower():
        hint = "an operator has no ONNX translation at this opset; try a newer opset or replace the operator"
    return f"cannot export {type(model).__name__} to ONNX ({exporter} exporter): {kind}: {first}{where}; {hint}"


def _check_single_file(path: Path, model: torch.nn.Module) -> onnx.ModelProto:
    """Load without external data, refuse a file that points to side files, then run the checker."""
    if not path.is_file():
        raise ExportError(f"the exporter reported success but wrote no file at {path}")
    if path.stat().st_size >= _PROTOBUF_LIMIT:
        raise ExportError(f"{path} is over 2 GB, which one ONNX file cannot hold; this exporter writes single files only")
    proto = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in _all_tensors(proto) if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(f"{path} refers to external weight data for {external[:3]}; expected all weights inside the file")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise ExportError(f"the ONNX file exported from {type(model).__name__} fails onnx.checker: {type(exc).__name__}: {exc}") from exc
    return proto


def _all_tensors(proto: onnx.ModelProto):
    yield from proto.graph.initializer
    for node in proto.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
