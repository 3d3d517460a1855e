"""``nasforge shrink``: prune a Hugging Face transformer with a transformer compressor, alone.

::

    nasforge shrink gpt2-folder --method transformer-heads -o ratio=0.25 --text corpus.txt --out small/
    nasforge shrink minilm --method transformer-ffn -o ratio=0.5 --data sst2 --data-option root=../shared/data/text --out small/

With ``--text`` the model is a causal language model: importance is measured on windows of the
text and the model is scored by perplexity on it, before and after. With ``--data`` (``sst2``,
``trec`` or a CSV) it is a sequence classifier: importance and any ``finetune`` option use the
training split, the score is dev accuracy. The smaller model is saved with ``save_extracted``
(loads back with transformers) and ``report.json`` next to it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError


def _options(pairs: list[str], what: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{what} {pair!r} must look like KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out


class ShrinkCommand:
    """Prune a Hugging Face transformer (heads, FFN neurons or layers) and score it before/after."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", help="a Hugging Face model folder, a hub id, or 'minilm'")
        parser.add_argument("--method", required=True, choices=("transformer-heads", "transformer-ffn", "transformer-layers"), help="the compressor")
        parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="compressor option, e.g. ratio=0.25 (repeatable; YAML value)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--text", help="a UTF-8 text file: the model is a language model, scored by perplexity")
        source.add_argument("--data", help="sst2, trec or a CSV file: the model is a classifier, scored by dev accuracy")
        parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE", help="option of the data loader, e.g. root=DIR or text_column=review")
        parser.add_argument("--max-seq-length", type=int, default=128, help="tokens per window or sentence (default 128)")
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--out", required=True, help="folder for the smaller model and report.json")

    def run(self, args: argparse.Namespace) -> int:
        from nasforge.core.experiment import instantiate
        from nasforge.core.plugins import get_plugin_manager
        from nasforge_transformers.extract import save_extracted, shape_of
        from nasforge_transformers.wrappers import LogitsModel

        options = _options(args.option, "option")
        compressor = instantiate(get_plugin_manager().get("compressor", args.method), (), options, "option", f"compressor {args.method!r}")
        if args.text:
            loaded, batches, score, metric = self._language_model(args)
        else:
            loaded, batches, score, metric = self._classifier(args)
        model = LogitsModel(loaded.model.eval(), loaded.tokenizer.pad_token_id)
        before = score(loaded.model)
        result = compressor.compress(model, batches[0][0], data=batches)
        small = result.model.model.eval()
        after = score(small)
        out = save_extracted(small, loaded.tokenizer, Path(args.out))
        report = {"model": args.model, "method": args.method, "options": options, "metric": metric, "before": before, "after": after,
                  "shape_before": shape_of(loaded.model), "shape_after": shape_of(small), "params_before": result.report.params_before,
                  "params_after": result.report.params_after, "notes": result.report.notes}
        (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"{args.method}: params {result.report.params_before:,} -> {result.report.params_after:,}; {metric} {before:.4f} -> {after:.4f}")
        print(f"layers/heads/FFN: {report['shape_after']}")
        print(f"saved: {out}")
        return 0

    def _language_model(self, args: argparse.Namespace) -> tuple[Any, list[Any], Any, str]:
        import torch

        from nasforge_transformers.models import load_model
        from nasforge_transformers.training import perplexity

        path = Path(args.text)
        if not path.is_file():
            raise UserError(f"--text {args.text!r} is not a file")
        text = path.read_text(encoding="utf-8")
        loaded = load_model(args.model, "causal-lm")
        if args.max_seq_length > loaded.max_length:
            raise UserError(f"--max-seq-length {args.max_seq_length} is above the model's maximum of {loaded.max_length} tokens")
        ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
        windows = [ids[i : i + args.max_seq_length] for i in range(0, len(ids), args.max_seq_length)]
        windows = [w for w in windows if len(w) >= 2]
        if not windows:
            raise UserError(f"{path} has fewer than 2 tokens")
        pad = loaded.tokenizer.pad_token_id
        batches = []
        for start in range(0, len(windows), args.batch_size):
            chunk = windows[start : start + args.batch_size]
            width = max(len(w) for w in chunk)
            batch = torch.full((len(chunk), width), pad, dtype=torch.long)
            for row, w in enumerate(chunk):
                batch[row, : len(w)] = torch.tensor(w)
            batches.append((batch, torch.zeros(len(chunk), dtype=torch.long)))
        return loaded, batches, lambda m: perplexity(m, loaded.tokenizer, text, args.max_seq_length), "perplexity"

    def _classifier(self, args: argparse.Namespace) -> tuple[Any, list[Any], Any, str]:
        from nasforge_transformers.data import encode, load_text_classification
        from nasforge_transformers.models import load_model
        from nasforge_transformers.training import evaluate

        data = load_text_classification(args.data, **_options(args.data_option, "data option"))
        loaded = load_model(args.model, "classification", data.num_labels, label_names=list(data.label_names))
        train = encode(loaded.tokenizer, data.train, args.max_seq_length, loaded.max_length)
        valid = encode(loaded.tokenizer, data.valid, args.max_seq_length, loaded.max_length)
        batches = [(b["input_ids"], b["labels"]) for b in train.batches(args.batch_size, shuffle=True, seed=0, bucket=True)]
        return loaded, batches, lambda m: evaluate(m, valid)["accuracy"], "accuracy"
