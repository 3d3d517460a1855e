"""The deploy adapter of the transformer evaluators: after the search, the winner becomes a real model.

Registered for ``transformer_oneshot`` and ``transformer_multitrial`` (hook
``nasforge_register_deploy_adapters``), so a config's ``compress:``/``export:`` sections work::

    compress:
      variants: [{name: transformer-ffn, options: {ratio: 0.25, finetune: {epochs: 1}}}]
    export: {formats: [transformer-onnx, transformer-onnx-int8]}

:meth:`TransformerDeployment.load` reads the trial's ``subnet.json`` (its architecture's index
plan over the rewired teacher), rebuilds the weights the trial was scored with — the trained
super-network (``transformer_oneshot``) or the trial's fine-tuned ``model.pt``
(``transformer_multitrial`` with ``save_model: true``) — and cuts the sub-network out with
:func:`~nasforge_transformers.extract.extract`: heads, FFN neurons and layers physically
removed. Then, unless the evaluator's ``final_finetune_steps`` is 0, it fine-tunes the extracted
model for that many steps with distillation from the teacher's cached logits, on the whole
training split: with ``eval_split: train`` the held-out slice the trials were scored on has done
its job once the winner is chosen, so the winner learns from it too (``final_finetune.pt`` in the
trial folder keeps the result, so a resumed deploy stage does not train again;
``final_finetune.ckpt`` resumes an interrupted fine-tune). It saves the result as a Hugging Face folder (``extracted/`` in the trial folder, with
the tokenizer; it loads back with ``transformers`` alone) and hands the deploy stage a
:class:`~nasforge_transformers.wrappers.LogitsModel` with example inputs of ``max_seq_length``
tokens. :meth:`~TransformerDeployment.data` gives fine-tuning batches padded per batch,
calibration token ids and the dev set; :meth:`~TransformerDeployment.score` is dev accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nasforge.core.deployment import DeployableModel, DeployData
from nasforge.core.errors import UserError

FOLDER = "transformer"


class TransformerDeployment:
    """Deploy adapter for the transformer sub-network evaluators (see the module docstring)."""

    metric = "accuracy"

    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator
        self._cache: dict[str, Any] = {}

    # -- helpers -----------------------------------------------------------------------------------
    def _state_folder(self, directory: Path, info: dict[str, Any]) -> Path:
        if info.get("supernet"):
            return Path(info["supernet"]).parent
        for parent in Path(directory).resolve().parents:
            if (parent / FOLDER / "importance.json").is_file():
                return parent / FOLDER
        raise UserError(f"no '{FOLDER}/' preparation folder above {directory}: was this trial run by a transformer evaluator?")

    def _teacher_dir(self, folder: Path) -> Path:
        source = getattr(self.evaluator, "teacher_source", None)
        return Path(source) if source else folder / "teacher"

    def _texts(self) -> Any:
        if "data" not in self._cache:
            from nasforge_transformers.data import load_text_classification

            self._cache["data"] = load_text_classification(self.evaluator.dataset, seed=self.evaluator.seed, **self.evaluator.dataset_options)
        return self._cache["data"]

    def _encoded(self, split: str) -> Any:
        key = f"encoded-{split}"
        if key not in self._cache:
            from nasforge_transformers.data import encode

            tokenizer = self._cache.get("tokenizer")
            if tokenizer is None:
                raise UserError("load a trial's model before asking for its data")
            self._cache[key] = encode(tokenizer, getattr(self._texts(), split), self.evaluator.max_seq_length, self._cache["max_length"])
        return self._cache[key]

    # -- the adapter ---------------------------------------------------------------------------------
    def load(self, directory: Path) -> DeployableModel | None:
        import torch

        from nasforge_transformers.extract import extract, save_extracted
        from nasforge_transformers.models import load_model
        from nasforge_transformers.wrappers import LogitsModel

        plan_file = Path(directory) / "subnet.json"
        if not plan_file.is_file():
            return None
        info = json.loads(plan_file.read_text(encoding="utf-8"))
        folder = self._state_folder(Path(directory), info)
        data = self._texts()
        loaded = load_model(str(self._teacher_dir(folder)), "classification", data.num_labels, label_names=list(data.label_names))
        model = loaded.model
        if info.get("supernet"):
            stored = torch.load(info["supernet"], map_location="cpu", weights_only=False)
            model.load_state_dict(stored["model"])  # the rewired, trained super-network
            weights = None
        else:
            weights = Path(directory) / "model.pt"
            if not weights.is_file():
                return None  # transformer_multitrial without save_model: the deploy stage re-runs the trial
            # plan indices refer to the rewired teacher; the saved student has exactly the extracted shapes
        plan = info["plan"]
        small = extract(model, plan["layers"], dict(zip(plan["layers"], plan["heads"])), dict(zip(plan["layers"], plan["neurons"])))
        if weights is not None:
            small.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self._cache.update(tokenizer=loaded.tokenizer, max_length=loaded.max_length)
        if getattr(self.evaluator, "final_options", None) is not None:
            self._final_finetune(small, Path(directory), folder)
        small.eval()
        save_extracted(small, loaded.tokenizer, Path(directory) / "extracted")
        return DeployableModel(model=LogitsModel(small, loaded.tokenizer.pad_token_id).eval(), example_inputs=self._padded(self._encoded("valid"), range(2)))

    def _final_finetune(self, small: Any, directory: Path, folder: Path) -> None:
        """Distil the extracted sub-network from the teacher's cached logits (see the module docstring)."""
        from dataclasses import asdict

        import torch

        from nasforge_transformers.models import load_model
        from nasforge_transformers.supernet import _log, torch_threads
        from nasforge_transformers.training import atomic_save, finetune, teacher_logits

        options = self.evaluator.final_options
        done = directory / "final_finetune.pt"
        if done.is_file():
            stored = torch.load(done, map_location="cpu", weights_only=False)
            if stored.get("options") == asdict(options):
                small.load_state_dict(stored["model"])
                return
        train = self._encoded("train")
        with torch_threads(getattr(self.evaluator, "threads", None)):
            data = self._texts()
            # the logits cache of the search (a fresh teacher computes them if it does not fit)
            teacher = load_model(str(self._teacher_dir(folder)), "classification", data.num_labels, label_names=list(data.label_names)).model.eval()
            logits = teacher_logits(teacher, train, cache=folder / "teacher_logits.pt")
            del teacher
            device = self.evaluator._device()
            _log(f"final distillation fine-tune of the extracted sub-network: {options.max_steps} steps on {len(train)} sentences")
            finetune(small.to(device), train, options, teacher_logits=logits, checkpoint=directory / "final_finetune.ckpt",
                     progress=lambda s, t, loss: _log(f"final fine-tune step {s}/{t}  loss {loss:.4f}") if s % 25 == 0 or s == t else None)
            small.cpu()
        atomic_save({"model": small.state_dict(), "options": asdict(options)}, done)

    def _padded(self, encoded: Any, indices: Any) -> tuple[Any, Any]:
        """Token ids and mask of ``indices``, padded to ``max_seq_length`` (what latency is measured at)."""
        import torch

        rows = [encoded.input_ids[i] for i in indices]
        width = self.evaluator.max_seq_length
        ids = torch.full((len(rows), width), encoded.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, seq in enumerate(rows):
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
        return ids, mask

    def data(self, calibration_samples: int, seed: int) -> DeployData:
        import torch

        from nasforge_transformers.data import stratified_sample

        train, valid = self._encoded("train"), self._encoded("valid")
        batches = [(b["input_ids"], b["labels"]) for b in train.batches(32, shuffle=True, seed=seed, bucket=True)]
        calibration = self._padded(train, stratified_sample(train.labels, calibration_samples, seed))
        evaluation = (self._padded(valid, range(len(valid))), torch.tensor(valid.labels, dtype=torch.long))
        return DeployData(train=batches, calibration=calibration, evaluation=evaluation)

    def score(self, model: Any) -> float:
        from nasforge_transformers.training import evaluate
        from nasforge_transformers.wrappers import unwrap

        return float(evaluate(unwrap(model), self._encoded("valid"))["accuracy"])
