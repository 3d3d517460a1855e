from __future__ import annotations

import math

import pytest
import torch

from nasforge.core.errors import UserError
from nasforge_transformers import (
    FinetuneOptions,
    distillation_loss,
    encode,
    evaluate,
    finetune,
    load_model,
    perplexity,
    predict_logits,
    teacher_logits,
)
from nasforge_transformers.data import TextSplit
from nasforge_transformers.testing import SENTENCES, tiny_model

LABELS = (1, 1, 1, 1, 0, 0, 0, 0)


def sentiment(tokenizer, repeat=4):
    return encode(tokenizer, TextSplit(SENTENCES * repeat, LABELS * repeat), max_seq_length=32)


@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_finetuning_learns_a_separable_task(family):
    model, tokenizer = tiny_model(family, "classification", 2, seed=0)
    data = sentiment(tokenizer)
    before = evaluate(model, data)
    seen = []
    result = finetune(model, data, FinetuneOptions(epochs=15, batch_size=8, lr=3e-3, warmup_ratio=0.1), progress=lambda s, t, loss: seen.append((s, t)))
    after = evaluate(model, data)
    assert result.steps == 15 * 4 and seen[-1] == (60, 60)
    assert after["accuracy"] == 1.0
    assert after["loss"] < before["loss"] / 3
    assert result.losses[-1] < result.losses[0]


def test_max_steps_overrides_epochs_and_warmup_schedule_shape(monkeypatch):
    model, tokenizer = tiny_model("encoder", seed=1)
    lrs = []
    opts = FinetuneOptions(epochs=100, max_steps=10, batch_size=8, lr=1e-3, warmup_ratio=0.2)
    import nasforge_transformers.training as training

    real = training.linear_warmup

    def spy(optimizer, warmup, total):
        scheduler = real(optimizer, warmup, total)
        lrs.append((warmup, total, scheduler))
        return scheduler

    monkeypatch.setattr(training, "linear_warmup", spy)
    result = finetune(model, sentiment(tokenizer), opts)
    assert result.steps == 10
    warmup, total, scheduler = lrs[0]
    assert (warmup, total) == (2, 10)
    factor = scheduler.lr_lambdas[0]
    assert [round(factor(s), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]


def test_distillation_loss_is_cross_entropy_without_a_teacher_and_zero_kl_for_identical_logits():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    labels = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(distillation_loss(logits, labels), ce)
    assert torch.allclose(distillation_loss(logits, labels, logits, temperature=2.0, alpha=0.5), 0.5 * ce)
    other = torch.tensor([[-2.0, 1.0], [0.5, 0.5]])
    assert distillation_loss(logits, labels, other, alpha=1.0) > 0.1


def test_distilling_from_cached_teacher_logits_moves_the_student_to_the_teacher(tmp_path):
    teacher, tokenizer = tiny_model("encoder", seed=0)
    data = sentiment(tokenizer)
    cache = tmp_path / "teacher.pt"
    logits = teacher_logits(teacher, data, cache=cache)
    assert cache.is_file() and logits.shape == (len(data), 2)
    assert torch.allclose(logits, predict_logits(teacher, data))
    # a second call reads the cache: a different model gives the same (cached) answer
    other, _ = tiny_model("encoder", seed=5)
    assert torch.equal(teacher_logits(other, data, cache=cache), logits)
    # ... unless the data changed
    shorter = data.subset(range(8))
    assert teacher_logits(other, shorter, cache=cache).shape == (8, 2)

    student, _ = tiny_model("encoder", seed=7)
    def gap() -> float:
        return float(torch.nn.functional.kl_div(predict_logits(student, data).log_softmax(-1), logits.log_softmax(-1), log_target=True, reduction="batchmean"))

    before = gap()
    finetune(student, data, FinetuneOptions(max_steps=30, batch_size=8, lr=2e-3, alpha=1.0, temperature=1.0), teacher_logits=logits)
    assert gap() < before / 4


def test_resuming_from_a_checkpoint_gives_the_same_model(tmp_path):
    opts = FinetuneOptions(max_steps=12, batch_size=8, lr=1e-3, checkpoint_every=5, seed=3)
    model, tokenizer = tiny_model("encoder", seed=2)
    data = sentiment(tokenizer)
    finetune(model, data, opts)
    straight = {k: v.clone() for k, v in model.state_dict().items()}

    ckpt = tmp_path / "ft.ckpt"
    interrupted, _ = tiny_model("encoder", seed=2)

    class Kill(Exception):
        pass

    def kill_at_7(step, total, loss):
        if step == 7:
            raise Kill

    with pytest.raises(Kill):
        finetune(interrupted, data, opts, checkpoint=ckpt, progress=kill_at_7)
    assert ckpt.is_file()
    fresh, _ = tiny_model("encoder", seed=99)   # a new process would start from the pretrained model
    result = finetune(fresh, data, opts, checkpoint=ckpt)
    assert result.resumed_from == 5 and result.steps == 12
    assert not ckpt.exists()
    for key, value in fresh.state_dict().items():
        assert torch.allclose(value, straight[key], atol=1e-6), key

    with pytest.raises(KeyboardInterrupt):
        finetune(tiny_model("encoder", seed=2)[0], data, opts, checkpoint=ckpt, progress=lambda s, t, loss: (_ for _ in ()).throw(KeyboardInterrupt) if s == 6 else None)
    with pytest.raises(UserError, match="other options or data"):
        finetune(fresh, data, FinetuneOptions(max_steps=20, batch_size=8, checkpoint_every=5), checkpoint=ckpt)


def test_finetuning_does_not_depend_on_the_global_random_state():
    # before the fix, dropout drew from wherever the process's generator stood: the same
    # sub-network fine-tuned with the same seed after a longer search scored a point apart
    opts = FinetuneOptions(max_steps=6, batch_size=8, lr=1e-3, seed=3)
    weights = []
    for draws in (0, 7):
        model, tokenizer = tiny_model("encoder", seed=2)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.3
        torch.rand(draws)  # what the process ran before moved the global generator
        finetune(model, sentiment(tokenizer), opts)
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


@pytest.mark.parametrize("bad, message", [
    ({"epochs": 0}, "epochs must be > 0"),
    ({"max_steps": 0}, "max_steps must be >= 1"),
    ({"alpha": 1.5}, "alpha must be in"),
    ({"warmup_ratio": 1.0}, "warmup_ratio"),
])
def test_bad_options_are_user_errors(bad, message):
    with pytest.raises(UserError, match=message):
        FinetuneOptions(**bad)


def test_unknown_option_is_named():
    with pytest.raises(UserError, match="unknown option.*learning_rate"):
        FinetuneOptions.from_options({"learning_rate": 1e-3})


def test_perplexity_of_a_tiny_decoder(tiny_gpt2_dir):
    loaded = load_model(tiny_gpt2_dir, task="causal-lm")
    text = " ".join(SENTENCES) * 3
    ppl = perplexity(loaded.model, loaded.tokenizer, text, max_seq_length=32)
    vocab = loaded.model.config.vocab_size
    assert math.isfinite(ppl) and vocab / 4 < ppl < vocab * 4   # a random model is near uniform
    finetune_lm_steps(loaded.model, loaded.tokenizer, text)
    assert perplexity(loaded.model, loaded.tokenizer, text, max_seq_length=32) < ppl / 2


def finetune_lm_steps(model, tokenizer, text, steps=40):
    ids = torch.tensor([tokenizer(text)["input_ids"][:32]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
