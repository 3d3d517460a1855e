"""BERT / RoBERTa / GPT-2 models whose layers keep different numbers of heads and FFN neurons.

This file is copied next to the weights of every extracted model whose shape plain
``transformers`` classes cannot hold (transformers 5 has no ``pruned_heads``: all its BERT and
GPT-2 layers have ``hidden_size / num_attention_heads``-sized heads, the same count in every
layer). It imports only torch and transformers, so the folder loads without nasforge::

    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)

The config is the base architecture's, plus ``heads_per_layer`` (heads kept in each layer; each
head keeps the original ``hidden_size / num_attention_heads`` width) and ``intermediate_per_layer``
(FFN neurons kept in each layer). ``num_attention_heads`` keeps its original value: it fixes the
head width. Every model class builds the stock architecture, then gives each layer's projections
their kept sizes; the forward code is transformers' own.
"""

from __future__ import annotations

from torch import nn
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    GPT2Model,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaModel,
)
from transformers.pytorch_utils import Conv1D


def _check(config) -> None:
    layers = config.num_hidden_layers
    for name in ("heads_per_layer", "intermediate_per_layer"):
        values = getattr(config, name, None)
        if values is None or len(values) != layers or any(int(v) < 1 for v in values):
            raise ValueError(f"{name} must list a positive count for each of the {layers} layers, got {values}")


def _linear(old: nn.Linear, in_features: int, out_features: int) -> nn.Linear:
    return nn.Linear(in_features, out_features, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype)


def shape_encoder_layers(encoder_model, config) -> None:
    """Give each BERT/RoBERTa layer of ``encoder_model`` (the base model) its kept heads and FFN width."""
    _check(config)
    head_dim = config.hidden_size // config.num_attention_heads
    for layer, heads, ffn in zip(encoder_model.encoder.layer, config.heads_per_layer, config.intermediate_per_layer):
        attention = layer.attention.self
        width = int(heads) * head_dim
        attention.num_attention_heads = int(heads)
        attention.all_head_size = width
        for name in ("query", "key", "value"):
            setattr(attention, name, _linear(getattr(attention, name), config.hidden_size, width))
        layer.attention.output.dense = _linear(layer.attention.output.dense, width, config.hidden_size)
        layer.intermediate.dense = _linear(layer.intermediate.dense, config.hidden_size, int(ffn))
        layer.output.dense = _linear(layer.output.dense, int(ffn), config.hidden_size)


def shape_decoder_layers(decoder_model, config) -> None:
    """Give each GPT-2 block of ``decoder_model`` (the base model) its kept heads and FFN width."""
    _check(config)
    head_dim = config.hidden_size // config.num_attention_heads
    for block, heads, ffn in zip(decoder_model.h, config.heads_per_layer, config.intermediate_per_layer):
        width = int(heads) * head_dim
        block.attn.num_heads = int(heads)
        block.attn.split_size = width
        block.attn.c_attn = Conv1D(3 * width, config.hidden_size)
        block.attn.c_proj = Conv1D(config.hidden_size, width)
        block.mlp.c_fc = Conv1D(int(ffn), config.hidden_size)
        block.mlp.c_proj = Conv1D(config.hidden_size, int(ffn))


class NasforgeBertConfig(BertConfig):
    model_type = "nasforge_bert"

    def __init__(self, heads_per_layer=None, intermediate_per_layer=None, **kwargs):
        super().__init__(**kwargs)
        self.heads_per_layer = list(heads_per_layer or [self.num_attention_heads] * self.num_hidden_layers)
        self.intermediate_per_layer = list(intermediate_per_layer or [self.intermediate_size] * self.num_hidden_layers)


class NasforgeRobertaConfig(RobertaConfig):
    model_type = "nasforge_roberta"

    def __init__(self, heads_per_layer=None, intermediate_per_layer=None, **kwargs):
        super().__init__(**kwargs)
        self.heads_per_layer = list(heads_per_layer or [self.num_attention_heads] * self.num_hidden_layers)
        self.intermediate_per_layer = list(intermediate_per_layer or [self.intermediate_size] * self.num_hidden_layers)


class NasforgeGPT2Config(GPT2Config):
    model_type = "nasforge_gpt2"

    def __init__(self, heads_per_layer=None, intermediate_per_layer=None, **kwargs):
        super().__init__(**kwargs)
        inner = self.n_inner if self.n_inner is not None else 4 * self.n_embd
        self.heads_per_layer = list(heads_per_layer or [self.n_head] * self.n_layer)
        self.intermediate_per_layer = list(intermediate_per_layer or [inner] * self.n_layer)


class NasforgeBertModel(BertModel):
    config_class = NasforgeBertConfig

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        shape_encoder_layers(self, config)


class NasforgeBertForSequenceClassification(BertForSequenceClassification):
    config_class = NasforgeBertConfig

    def __init__(self, config):
        super().__init__(config)
        shape_encoder_layers(self.bert, config)


class NasforgeRobertaModel(RobertaModel):
    config_class = NasforgeRobertaConfig

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        shape_encoder_layers(self, config)


class NasforgeRobertaForSequenceClassification(RobertaForSequenceClassification):
    config_class = NasforgeRobertaConfig

    def __init__(self, config):
        super().__init__(config)
        shape_encoder_layers(self.roberta, config)


class NasforgeGPT2Model(GPT2Model):
    config_class = NasforgeGPT2Config

    def __init__(self, config):
        super().__init__(config)
        shape_decoder_layers(self, config)


class NasforgeGPT2LMHeadModel(GPT2LMHeadModel):
    config_class = NasforgeGPT2Config

    def __init__(self, config):
        super().__init__(config)
        shape_decoder_layers(self.transformer, config)


class NasforgeGPT2ForSequenceClassification(GPT2ForSequenceClassification):
    config_class = NasforgeGPT2Config

    def __init__(self, config):
        super().__init__(config)
        shape_decoder_layers(self.transformer, config)


#: base model type -> (config class, {auto class name: model class})
ARCHITECTURES = {
    "bert": (NasforgeBertConfig, {"AutoModel": NasforgeBertModel, "AutoModelForSequenceClassification": NasforgeBertForSequenceClassification}),
    "roberta": (NasforgeRobertaConfig, {"AutoModel": NasforgeRobertaModel, "AutoModelForSequenceClassification": NasforgeRobertaForSequenceClassification}),
    "gpt2": (NasforgeGPT2Config, {"AutoModel": NasforgeGPT2Model, "AutoModelForCausalLM": NasforgeGPT2LMHeadModel, "AutoModelForSequenceClassification": NasforgeGPT2ForSequenceClassification}),
}


def register_auto_classes() -> None:
    """Make transformers' Auto classes know these types in this process (no remote code needed)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    autos = {"AutoModel": AutoModel, "AutoModelForCausalLM": AutoModelForCausalLM, "AutoModelForSequenceClassification": AutoModelForSequenceClassification}
    for config_cls, classes in ARCHITECTURES.values():
        AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
        for auto, cls in classes.items():
            autos[auto].register(config_cls, cls, exist_ok=True)
