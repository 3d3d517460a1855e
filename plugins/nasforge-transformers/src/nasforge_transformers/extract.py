"""Physical extraction: cut a sub-network out of a BERT/RoBERTa encoder or GPT-2 decoder.

::

    small = extract(model, keep_layers=[0, 2, 5],
                    heads={0: [1, 3, 4, 7], 2: [0, 1]},      # original layer -> head indices kept
                    neurons={5: top_k_indices})               # original layer -> FFN neurons kept
    save_extracted(small, tokenizer, "out/small")             # loads back with transformers alone
    shape_of(small)  # {"layers": 3, "heads": [4, 2, 12], "intermediate": [1536, 1536, 700]}

Layers not in ``keep_layers`` are removed; a kept layer missing from ``heads``/``neurons`` keeps
all of its heads/neurons. Index lists refer to the *original* model (sort order does not matter;
the kept units keep their relative order). Attention heads keep their width
(``hidden_size / num_attention_heads``): the query/key/value rows and output-projection columns
of the dropped heads are removed; for the FFN, the intermediate rows and output columns. Embeddings,
LayerNorms and the task head are kept as they are.

The result is a real, smaller model: when every kept layer has all its heads and the same FFN
width it is the stock transformers class with an updated config (``num_hidden_layers``,
``intermediate_size``/``n_inner``); otherwise it is one of the classes of
:mod:`nasforge_transformers.modeling_pruned`, whose source :func:`save_extracted` writes next to
the weights, so ``AutoModel*.from_pretrained(folder, trust_remote_code=True)`` loads it with plain
transformers. Supported model types: :data:`EXTRACTABLE`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError

#: Model types :func:`extract` can cut (pruned models of these types are extractable again).
EXTRACTABLE = ("bert", "roberta", "gpt2")
_MODELING_FILE = Path(__file__).with_name("modeling_pruned.py")


def base_type(config: Any) -> str:
    """The stock model type of ``config`` (``bert`` for ``nasforge_bert`` ...)."""
    return str(getattr(config, "model_type", "")).removeprefix("nasforge_")


def _require_supported(model: Any) -> str:
    kind = base_type(model.config)
    if kind not in EXTRACTABLE:
        raise UserError(f"extraction supports {', '.join(EXTRACTABLE)} models, not {getattr(model.config, 'model_type', type(model).__name__)!r}")
    return kind


def _is_decoder(kind: str) -> bool:
    return kind == "gpt2"


def base_model(model: Any) -> Any:
    """The model without its task head (``model.bert``, ``model.transformer`` ... or itself)."""
    return getattr(model, model.base_model_prefix, model)


def layer_modules(model: Any) -> Any:
    """The ``ModuleList`` of transformer layers."""
    base = base_model(model)
    return base.h if _is_decoder(_require_supported(model)) else base.encoder.layer


def head_dim(config: Any) -> int:
    return int(config.hidden_size) // int(config.num_attention_heads)


def shape_of(model: Any) -> dict[str, Any]:
    """Layers, heads and FFN width per layer, read from the modules themselves."""
    kind = _require_supported(model)
    heads, inter = [], []
    for layer in layer_modules(model):
        if _is_decoder(kind):
            heads.append(int(layer.attn.num_heads))
            inter.append(int(layer.mlp.c_fc.weight.shape[1]))
        else:
            heads.append(int(layer.attention.self.num_attention_heads))
            inter.append(int(layer.intermediate.dense.out_features))
    return {"layers": len(heads), "heads": heads, "intermediate": inter}


def _indices(values: Iterable[int], limit: int, what: str) -> list[int]:
    chosen = sorted({int(v) for v in values})
    if not chosen:
        raise UserError(f"{what}: keep at least one (drop the layer instead)")
    if chosen[0] < 0 or chosen[-1] >= limit:
        raise UserError(f"{what}: indices must be in 0..{limit - 1}, got {chosen}")
    return chosen


def extract(model: Any, keep_layers: Iterable[int] | None = None, heads: Mapping[int, Iterable[int]] | None = None, neurons: Mapping[int, Iterable[int]] | None = None) -> Any:
    """A new, smaller model holding only the kept layers, heads and FFN neurons (see the module docstring).

    ``model`` is not changed. The result is in eval mode on ``model``'s device.
    """
    import torch

    kind = _require_supported(model)
    shape = shape_of(model)
    n_layers = shape["layers"]
    keep = _indices(range(n_layers) if keep_layers is None else keep_layers, n_layers, "keep_layers")
    heads, neurons = dict(heads or {}), dict(neurons or {})
    for name, mapping in (("heads", heads), ("neurons", neurons)):
        unknown = sorted(set(mapping) - set(keep))
        if unknown:
            raise UserError(f"{name} given for layers {unknown} that are not kept (keep_layers={keep})")
    d = head_dim(model.config)
    head_keep = {i: _indices(heads[i], shape["heads"][i], f"heads of layer {i}") if i in heads else list(range(shape["heads"][i])) for i in keep}
    ffn_keep = {i: _indices(neurons[i], shape["intermediate"][i], f"neurons of layer {i}") if i in neurons else list(range(shape["intermediate"][i])) for i in keep}

    layers_prefix = _layers_prefix(model, kind)
    state = model.state_dict()
    new_state: dict[str, Any] = {}
    for key, tensor in state.items():
        if not key.startswith(layers_prefix):
            new_state[key] = tensor
            continue
        index, suffix = key[len(layers_prefix) :].split(".", 1)
        old = int(index)
        if old not in head_keep:
            continue
        rows = torch.tensor([h * d + j for h in head_keep[old] for j in range(d)], dtype=torch.long, device=tensor.device)
        ffn = torch.tensor(ffn_keep[old], dtype=torch.long, device=tensor.device)
        new_state[f"{layers_prefix}{keep.index(old)}.{suffix}"] = _slice(kind, suffix, tensor, rows, ffn, shape["heads"][old] * d).clone()

    new_heads = [len(head_keep[i]) for i in keep]
    new_inter = [len(ffn_keep[i]) for i in keep]
    config = _new_config(model.config, kind, new_heads, new_inter)
    device = next(model.parameters()).device
    small = _build(model, kind, config).to(device)
    missing, unexpected = small.load_state_dict(new_state, strict=False)
    missing = [k for k in missing if k not in _tied_keys(small)]
    if missing or unexpected:
        raise RuntimeError(f"extraction produced mismatched weights: missing {missing[:5]}, unexpected {unexpected[:5]}")
    small.tie_weights()
    small.eval()
    return small


def _layers_prefix(model: Any, kind: str) -> str:
    prefix = "" if base_model(model) is model else model.base_model_prefix + "."
    return prefix + ("h." if _is_decoder(kind) else "encoder.layer.")


def _tied_keys(model: Any) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return set(tied.keys() if isinstance(tied, dict) else tied)


def _slice(kind: str, suffix: str, tensor: Any, rows: Any, ffn: Any, attention_width: int) -> Any:
    """The kept part of one layer tensor, by its name inside the layer (``attention_width``: the
    layer's current heads x head width, the stride of GPT-2's fused q|k|v projection)."""
    if _is_decoder(kind):
        # GPT-2's Conv1D stores weights as (in, out)
        if suffix in ("attn.c_attn.weight", "attn.c_attn.bias"):
            import torch

            qkv = torch.cat([rows, rows + attention_width, rows + 2 * attention_width])
            return tensor.index_select(-1, qkv)
        if suffix == "attn.c_proj.weight":
            return tensor.index_select(0, rows)
        if suffix in ("mlp.c_fc.weight", "mlp.c_fc.bias"):
            return tensor.index_select(-1, ffn)
        if suffix == "mlp.c_proj.weight":
            return tensor.index_select(0, ffn)
        return tensor
    if suffix.startswith(("attention.self.query.", "attention.self.key.", "attention.self.value.")):
        return tensor.index_select(0, rows)
    if suffix == "attention.output.dense.weight":
        return tensor.index_select(1, rows)
    if suffix in ("intermediate.dense.weight", "intermediate.dense.bias"):
        return tensor.index_select(0, ffn)
    if suffix == "output.dense.weight":
        return tensor.index_select(1, ffn)
    return tensor


def _new_config(config: Any, kind: str, heads: list[int], inter: list[int]) -> Any:
    from nasforge_transformers.modeling_pruned import ARCHITECTURES

    values = config.to_dict()
    for key in ("model_type", "architectures", "auto_map", "transformers_version", "heads_per_layer", "intermediate_per_layer"):
        values.pop(key, None)
    layers_key = "n_layer" if _is_decoder(kind) else "num_hidden_layers"
    values[layers_key] = len(heads)
    full_heads = int(config.num_attention_heads)
    if all(h == full_heads for h in heads) and len(set(inter)) == 1:
        from transformers import AutoConfig

        values["n_inner" if _is_decoder(kind) else "intermediate_size"] = inter[0]
        return AutoConfig.for_model(kind, **values)
    config_cls, _ = ARCHITECTURES[kind]
    return config_cls(heads_per_layer=heads, intermediate_per_layer=inter, **values)


_AUTO_OF_HEAD = {"ForSequenceClassification": "AutoModelForSequenceClassification", "LMHeadModel": "AutoModelForCausalLM", "ForCausalLM": "AutoModelForCausalLM"}


def _auto_class_name(model: Any) -> str:
    name = type(model).__name__
    for ending, auto in _AUTO_OF_HEAD.items():
        if name.endswith(ending):
            return auto
    if base_model(model) is model:
        return "AutoModel"
    raise UserError(f"extraction supports base models, sequence classifiers and causal LMs, not {name}")


def _build(model: Any, kind: str, config: Any) -> Any:
    """An untrained model of ``config`` with ``model``'s head: stock class or pruned class."""
    from nasforge_transformers.modeling_pruned import ARCHITECTURES

    auto = _auto_class_name(model)
    if base_type(config) == config.model_type:
        import transformers

        return getattr(transformers, auto).from_config(config)
    _, classes = ARCHITECTURES[kind]
    if auto not in classes:
        raise UserError(f"no pruned {kind} class for {auto}")
    return classes[auto](config)


def save_extracted(model: Any, tokenizer: Any, folder: str | Path) -> Path:
    """``save_pretrained`` the model (and tokenizer) so plain transformers loads it back.

    A model of a :mod:`~nasforge_transformers.modeling_pruned` class gets that file copied next to
    its weights and an ``auto_map`` in its config (load with ``trust_remote_code=True``).
    """
    from nasforge_transformers.modeling_pruned import ARCHITECTURES

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    kind = base_type(model.config)
    if model.config.model_type != kind:
        config_cls, classes = ARCHITECTURES[kind]
        module = _MODELING_FILE.stem
        auto_map = {"AutoConfig": f"{module}.{config_cls.__name__}"}
        auto_map.update({auto: f"{module}.{cls.__name__}" for auto, cls in classes.items()})
        model.config.auto_map = auto_map
        shutil.copyfile(_MODELING_FILE, path / _MODELING_FILE.name)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path
