"""Fine-tuning and evaluating sequence classifiers, with optional distillation from cached logits.

::

    options = FinetuneOptions(epochs=1, batch_size=32, lr=5e-5, warmup_ratio=0.1)
    teacher = teacher_logits(teacher_model, train, cache=run_dir / "teacher.pt")   # once, on disk
    result = finetune(student, train, options, teacher_logits=teacher, progress=print_step,
                      checkpoint=run_dir / "finetune.ckpt")      # resumes from it after a kill
    evaluate(student, valid)        # {"accuracy": ..., "loss": ..., "examples": ...}

The building blocks are public for loops of your own (a super-network's sandwich rule):
:func:`make_optimizer` (AdamW, no weight decay on biases and LayerNorm), :func:`linear_warmup`
(linear warm-up then linear decay to 0), :func:`distillation_loss`, :func:`forward_logits`,
:func:`predict_logits`. :func:`perplexity` evaluates a causal language model on a text.

Training length is ``max_steps`` when given, else ``epochs`` passes (fractions allowed) over the
training data. With ``teacher_logits`` the loss is
``alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * cross_entropy``.
The batch order and the dropout masks depend only on ``seed`` and the step, so the same model,
data and options give the same weights whatever the process ran before, and after a resume.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from nasforge.core.errors import UserError
from nasforge_transformers.data import EncodedTexts

#: ``progress(step, total_steps, loss)`` after every optimiser step.
Progress = Callable[[int, int, float], None]


@dataclass
class TrainingOptions:
    """Options every training loop here shares (fine-tunes and the super-network); subclasses add
    their own fields and defaults. Invalid values and unknown keys are one-line errors naming them."""

    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float | None = 1.0
    temperature: float = 2.0
    alpha: float = 0.5
    seed: int = 0
    checkpoint_every: int = 50

    #: the config section named in error messages
    section: ClassVar[str] = "training"

    def checks(self) -> list[tuple[str, bool, str]]:
        """``(field, valid, rule)`` for every field with a rule."""
        return [
            ("batch_size", self.batch_size >= 1, ">= 1"), ("lr", self.lr > 0, "> 0"), ("warmup_ratio", 0.0 <= self.warmup_ratio < 1.0, "in [0, 1)"),
            ("alpha", 0.0 <= self.alpha <= 1.0, "in [0, 1]"), ("temperature", self.temperature > 0, "> 0"), ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
        ]

    def __post_init__(self) -> None:
        for name, valid, rule in self.checks():
            if not valid:
                raise self.error(name, f"must be {rule}, got {getattr(self, name)!r}")

    @classmethod
    def error(cls, name: str | None, message: str, where: str | None = None) -> UserError:
        """The error for field ``name`` (``None``: the whole section) of section ``where``."""
        return UserError(f"{where or cls.section}{' ' + name if name else ':'} {message}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None, field_prefix: str | None = None) -> Any:
        """Build from a config mapping (``field_prefix``: the section named in errors); an unknown
        key is a one-line error naming it."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise cls.error(None, f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}", field_prefix)
        try:
            return cls(**options)
        except TypeError as exc:
            raise cls.error(None, str(exc), field_prefix) from None


@dataclass
class FinetuneOptions(TrainingOptions):
    """How to fine-tune; every field is a config option of the same name."""

    epochs: float = 1.0
    max_steps: int | None = None
    bucket: bool = True

    section: ClassVar[str] = "finetune"

    def checks(self) -> list[tuple[str, bool, str]]:
        return [
            ("epochs", self.max_steps is not None or self.epochs > 0, "> 0 (or give max_steps)"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, ">= 1"),
            *super().checks(),
        ]

    def total_steps(self, examples: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, math.ceil(self.epochs * math.ceil(examples / self.batch_size)))


class TrainingLoop:
    """What a training loop sets up: AdamW (:func:`make_optimizer`), warm-up + linear decay over
    ``total`` steps (:func:`linear_warmup`) and a resumable ``checkpoint`` file.

    :meth:`resume` loads the checkpoint when there is one (refusing one written with other options
    or data; ``ignore`` lists option fields a resumed run may change) and returns its extra state;
    :meth:`update` clips the gradients and steps optimiser and schedule; :meth:`save` writes the
    checkpoint atomically with extra state (step, losses ...); :meth:`seed_step` seeds the
    step's dropout masks, so no RNG state needs saving.
    """

    def __init__(self, model: Any, options: TrainingOptions, total: int, checkpoint: str | os.PathLike[str] | None, examples: int,
                 what: str = "fine-tune", ignore: tuple[str, ...] = ()) -> None:
        self.model, self.options, self.examples, self.what, self.ignore = model, options, examples, what, ignore
        self.optimizer = make_optimizer(model, options.lr, options.weight_decay)
        self.scheduler = linear_warmup(self.optimizer, int(options.warmup_ratio * total), total)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None

    def _key(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (options or {}).items() if k not in self.ignore}

    def resume(self) -> dict[str, Any] | None:
        import torch

        if self.checkpoint is None or not self.checkpoint.is_file():
            return None
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        if self._key(state.get("options")) != self._key(asdict(self.options)) or state.get("examples") != self.examples:
            raise UserError(f"checkpoint {self.checkpoint} was written by a {self.what} with other options or data; delete it to start over")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return state

    def seed_step(self, step: int) -> None:
        """Seed torch's generator (dropout masks) from the options' seed and ``step`` alone: not from
        whatever the process drew before (a search, another fine-tune), and the same after a resume."""
        import torch

        torch.manual_seed(self.options.seed * 1_000_003 + step)

    def update(self) -> None:
        import torch

        if self.options.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    def save(self, **extra: Any) -> None:
        if self.checkpoint is None:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        atomic_save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                     "options": asdict(self.options), "examples": self.examples, **extra}, self.checkpoint)


@dataclass
class FinetuneResult:
    steps: int
    seconds: float
    #: mean training loss of each logged window of steps
    losses: list[float] = field(default_factory=list)
    resumed_from: int = 0


def forward_logits(model: Any, batch: dict[str, Any]) -> Any:
    """The classification logits of a batch (only ``input_ids`` and ``attention_mask`` are fed)."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def make_optimizer(model: Any, lr: float, weight_decay: float = 0.01) -> Any:
    """AdamW over the trainable parameters; biases and LayerNorm weights get no weight decay."""
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or name.endswith(".bias") else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def linear_warmup(optimizer: Any, warmup_steps: int, total_steps: int) -> Any:
    """Learning-rate schedule: linear from 0 over ``warmup_steps``, then linearly down to 0 at ``total_steps``."""
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def distillation_loss(student_logits: Any, labels: Any, teacher_logits: Any | None = None, temperature: float = 2.0, alpha: float = 0.5) -> Any:
    """Cross-entropy on ``labels``, mixed with KL to the softened teacher when ``teacher_logits`` is given."""
    import torch.nn.functional as F

    hard = F.cross_entropy(student_logits, labels)
    if teacher_logits is None or alpha == 0.0:
        return hard
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits.to(student_logits.dtype) / t, dim=-1), log_target=True, reduction="batchmean") * (t * t)
    return alpha * soft + (1.0 - alpha) * hard


def _device(model: Any) -> Any:
    return next(model.parameters()).device


def _to(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


def predict_logits(model: Any, data: EncodedTexts, batch_size: int = 64) -> Any:
    """Logits of every example, in ``data``'s order (evaluated longest-first, without gradients)."""
    import torch

    was_training = model.training
    model.eval()
    device = _device(model)
    out: Any = None
    with torch.inference_mode():
        for batch in data.batches(batch_size, bucket=True):
            logits = forward_logits(model, _to(batch, device)).float().cpu()
            if out is None:
                out = torch.empty((len(data), logits.shape[-1]), dtype=torch.float32)
            out[batch["index"]] = logits
    model.train(was_training)
    return out


def evaluate(model: Any, data: EncodedTexts, batch_size: int = 64) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``data``."""
    import torch
    import torch.nn.functional as F

    logits = predict_logits(model, data, batch_size)
    labels = torch.tensor(data.labels, dtype=torch.long)
    return {
        "accuracy": float((logits.argmax(-1) == labels).float().mean()),
        "loss": float(F.cross_entropy(logits, labels)),
        "examples": float(len(data)),
    }


def _fingerprint(data: EncodedTexts) -> str:
    digest = hashlib.sha256()
    for seq in data.input_ids:
        digest.update(len(seq).to_bytes(4, "little"))
        digest.update(b"".join(int(t).to_bytes(4, "little", signed=True) for t in seq))
    return digest.hexdigest()


def teacher_logits(teacher: Any, data: EncodedTexts, cache: str | os.PathLike[str] | None = None, batch_size: int = 64) -> Any:
    """The teacher's logits on ``data``, computed once and kept in ``cache`` (a ``.pt`` file).

    The cache holds a fingerprint of the token ids: a cache made for other data (another
    tokenizer, length or sample) is recomputed, never silently reused.
    """
    import torch

    fingerprint = _fingerprint(data)
    path = Path(cache) if cache is not None else None
    if path is not None and path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("fingerprint") == fingerprint:
            return stored["logits"]
    logits = predict_logits(teacher, data, batch_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save({"fingerprint": fingerprint, "logits": logits}, path)
    return logits


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves a half-written file."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def finetune(
    model: Any,
    train: EncodedTexts,
    options: FinetuneOptions | None = None,
    *,
    teacher_logits: Any | None = None,
    progress: Progress | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    log_every: int = 10,
) -> FinetuneResult:
    """Fine-tune ``model`` in place on ``train`` (see the module docstring).

    :param teacher_logits: ``(len(train), num_labels)`` logits, in ``train``'s order, to distil from.
    :param checkpoint: a file to save model, optimiser, schedule and step to every
        ``options.checkpoint_every`` steps; if it exists when called, training continues from it
        (the data order depends only on the seed, so a resumed run sees the same batches). It is
        deleted when training finishes.
    """
    import torch

    options = options or FinetuneOptions()
    if len(train) == 0:
        raise UserError("no training examples to fine-tune on")
    if teacher_logits is not None and tuple(teacher_logits.shape[:1]) != (len(train),):
        raise UserError(f"teacher logits cover {teacher_logits.shape[0]} examples, the training data has {len(train)}")
    total = options.total_steps(len(train))
    device = _device(model)
    loop = TrainingLoop(model, options, total, checkpoint, len(train))
    state = loop.resume()
    step = 0
    if state is not None:
        step = int(state["step"])
    resumed = step
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    window: list[float] = []
    batches_per_epoch = math.ceil(len(train) / options.batch_size)
    epoch, offset = divmod(step, batches_per_epoch)
    while step < total:
        order = train.order(options.batch_size, shuffle=True, seed=options.seed, epoch=epoch, bucket=options.bucket)
        for indices in order[offset:]:
            if step >= total:
                break
            batch = _to(train.collate(indices), device)
            loop.seed_step(step)
            logits = forward_logits(model, batch)
            teacher = teacher_logits[batch["index"].cpu()].to(device) if teacher_logits is not None else None
            loss = distillation_loss(logits, batch["labels"], teacher, options.temperature, options.alpha)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fine-tuning diverged at step {step + 1}: loss is {float(loss)} (lower lr?)")
            loop.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loop.update()
            step += 1
            value = float(loss.detach())
            window.append(value)
            if len(window) >= log_every or step == total:
                losses.append(sum(window) / len(window))
                window = []
            if progress is not None:
                progress(step, total, value)
            if step % options.checkpoint_every == 0 and step < total:
                loop.save(step=step)
        epoch += 1
        offset = 0
    if loop.checkpoint is not None:
        loop.checkpoint.unlink(missing_ok=True)
    model.eval()
    return FinetuneResult(step, time.perf_counter() - started, losses, resumed)


def perplexity(model: Any, tokenizer: Any, text: str, max_seq_length: int = 128, batch_size: int = 8) -> float:
    """Perplexity of a causal language model on ``text``, cut into non-overlapping windows of
    ``max_seq_length`` tokens (the first token of each window is not predicted)."""
    import torch

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < 2:
        raise UserError("the text for perplexity has fewer than 2 tokens")
    windows = [ids[i : i + max_seq_length] for i in range(0, len(ids), max_seq_length)]
    windows = [w for w in windows if len(w) >= 2]
    device = _device(model)
    was_training = model.training
    model.eval()
    total_loss, total_tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            width = max(len(w) for w in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(input_ids)
            for row, w in enumerate(chunk):
                input_ids[row, : len(w)] = torch.tensor(w)
                mask[row, : len(w)] = 1
            input_ids, mask = input_ids.to(device), mask.to(device)
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
            targets = input_ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum")
            total_loss += float(loss)
            total_tokens += int((targets != -100).sum())
    model.train(was_training)
    return math.exp(total_loss / total_tokens)
