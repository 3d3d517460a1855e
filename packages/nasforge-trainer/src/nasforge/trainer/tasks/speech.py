"""Spoken digits: the Free Spoken Digit Dataset, log-mel features by ``torch.stft``, the ``crnn`` space.

Dataset ``fsdd`` (``evaluator.options.dataset``): 3,000 mono 8 kHz WAV recordings of the digits
0-9 by 6 speakers, files ``{digit}_{speaker}_{index}.wav``. ``root`` is the folder holding them
(or a ``.tar.gz`` of it, extracted once into ``cache_dir``, default
``~/.cache/nasforge/data/fsdd``). Splits:

* ``split: official`` — recordings with index 0-4 are the test split (the dataset's README);
* ``split: speaker`` — speaker-disjoint: every recording of ``test_speakers`` is the test split
  (default: one speaker drawn with ``seed``), so the score says how well a model generalises to
  a voice it never heard.

``valid_fraction`` of the remaining recordings (seeded, stratified by digit) is the validation split.

Audio is read with the standard library's :mod:`wave` (16-bit PCM; no extra dependency: the
recordings are plain PCM WAV, which is all ``wave`` needs, and torchaudio does not support the
pinned torch). Each clip is centre-cropped or zero-padded to ``seconds`` (1.0) and turned into a
log-mel spectrogram (:class:`LogMel`: ``torch.stft`` with a Hann window of 25 ms, hop 10 ms,
``n_mels`` triangular mel filters, ``log(mel + 1e-6)``), normalised with the training split's
mean and standard deviation. Models see ``(1, n_mels, frames)`` inputs — like a one-channel
image, so the image ``cnn`` space works as well as ``crnn``. Put :class:`LogMel` in front of an
exported model to deploy it on raw audio.

Robustness: ``noise`` corrupts the waveforms with white noise at an SNR (30, 20, 10, 5, 0 dB by
severity) before the features are recomputed.
"""

from __future__ import annotations

import os
import re
import tarfile
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from nasforge.core.errors import ConfigError, SpaceError, UserError
from nasforge.core.space import SearchSpace
from nasforge.trainer.data import DEFAULT_DATA_DIR, DatasetSplits, stratified_split
from nasforge.trainer.robustness import SPEECH_SEVERITIES, severity_value
from nasforge.trainer.tasks._common import OPTION, check_fraction, check_int, check_nonempty_classes, choice_values

_NAME = re.compile(r"^(\d+)_([A-Za-z0-9-]+)_(\d+)\.wav$")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in ``[-1, 1]`` and the sample rate of a 8/16/32-bit PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError, OSError) as exc:
        raise UserError(f"cannot read WAV file {path}: {exc}; it must be an uncompressed PCM WAV") from None
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(raw, dtype=dtype).astype(np.float32) / float(np.iinfo(dtype).max)
    else:
        raise UserError(f"cannot read WAV file {path}: {8 * width}-bit samples are not supported (8, 16 or 32-bit PCM are)")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    if len(samples) == 0:
        raise UserError(f"WAV file {path} holds no samples")
    return samples, rate


def mel_filters(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 20.0, f_max: float | None = None) -> torch.Tensor:
    """``(n_fft // 2 + 1, n_mels)`` triangular filters on the HTK mel scale."""
    f_max = f_max or sample_rate / 2

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = hz(np.linspace(mel(np.array(f_min)), mel(np.array(f_max)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    return torch.from_numpy(np.maximum(0.0, np.minimum(up, down)).T.astype(np.float32))


class LogMel(nn.Module):
    """Waveforms ``(N, samples)`` → log-mel spectrograms ``(N, 1, n_mels, frames)`` via ``torch.stft``."""

    def __init__(self, sample_rate: int = 8000, n_mels: int = 40, win_ms: float = 25.0, hop_ms: float = 10.0) -> None:
        super().__init__()
        self.win = int(round(sample_rate * win_ms / 1000))
        self.hop = int(round(sample_rate * hop_ms / 1000))
        self.n_fft = 1 << (self.win - 1).bit_length()
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)
        self.register_buffer("filters", mel_filters(self.n_fft, n_mels, sample_rate), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, hop_length=self.hop, win_length=self.win, window=self.window, center=True, return_complex=True)
        power = spec.abs() ** 2  # (N, freqs, frames)
        return torch.log(torch.matmul(power.transpose(1, 2), self.filters).transpose(1, 2) + 1e-6).unsqueeze(1)


class SpeechDataset(Dataset):
    """Fixed-length waveforms, their normalised log-mel features and labels."""

    corruptions: tuple[str, ...] = tuple(SPEECH_SEVERITIES)

    def __init__(self, waves: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, featurizer: LogMel, mean: float, std: float) -> None:
        self.waves, self.lengths, self.labels = waves, lengths, labels.long()
        self.featurizer, self.mean, self.std = featurizer, float(mean), float(std)
        with torch.no_grad():
            feats = torch.cat([featurizer(waves[i : i + 256]) for i in range(0, len(waves), 256)]) if len(waves) else torch.empty(0)
        self.features = (feats - self.mean) / self.std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[indices], self.labels[indices]

    def subset(self, indices: torch.Tensor | Sequence[int]) -> SpeechDataset:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return SpeechDataset(self.waves[idx], self.lengths[idx], self.labels[idx], self.featurizer, self.mean, self.std)

    def corrupted(self, name: str, severity: int, seed: int = 0) -> SpeechDataset:
        """``noise``: white noise at the severity's SNR (in dB, against each clip's own signal power)."""
        snr_db = severity_value(SPEECH_SEVERITIES, name, severity)
        generator = torch.Generator().manual_seed(int(seed))
        mask = torch.arange(self.waves.shape[1]).unsqueeze(0) < self.lengths.unsqueeze(1)
        power = (self.waves**2 * mask).sum(dim=1) / self.lengths.clamp_min(1)
        noise_power = power / (10 ** (snr_db / 10))
        noise = torch.randn(self.waves.shape, generator=generator) * noise_power.sqrt().unsqueeze(1)
        return SpeechDataset(self.waves + noise, self.lengths, self.labels, self.featurizer, self.mean, self.std)


def _recordings_folder(root: Path, cache_dir: Path | None) -> Path:
    if root.is_dir():
        return root
    if root.is_file() and root.name.endswith((".tar.gz", ".tgz", ".tar")):
        target = (cache_dir or DEFAULT_DATA_DIR / "fsdd") / root.name.split(".tar")[0].removesuffix(".tgz")
        done = target / ".extracted"
        if not done.exists():
            target.mkdir(parents=True, exist_ok=True)
            try:
                with tarfile.open(root) as tar:
                    tar.extractall(target, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise UserError(f"cannot extract {root}: {exc}") from None
            done.write_text("ok\n")
        return target
    raise UserError(f"FSDD root {root} is neither a folder of WAV files nor a .tar.gz of one; set dataset_options.root (the dataset: github.com/Jakobovski/free-spoken-digit-dataset)")


def find_recordings(folder: Path) -> list[tuple[Path, int, str, int]]:
    """``(path, digit, speaker, index)`` of every ``{digit}_{speaker}_{index}.wav`` under ``folder``, sorted."""
    found = []
    for path in sorted(folder.rglob("*.wav")):
        match = _NAME.match(path.name)
        if match:
            found.append((path, int(match.group(1)), match.group(2), int(match.group(3))))
    if not found:
        raise UserError(f"no recordings named {{digit}}_{{speaker}}_{{index}}.wav under {folder}")
    return found


def load_fsdd(
    root: str | os.PathLike[str] | None = None,
    split: str = "official",
    test_speakers: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    seconds: float = 1.0,
    n_mels: int = 40,
    limit_per_class: int | None = None,
    valid_fraction: float = 0.1,
    max_train_samples: int | None = None,
    seed: int = 0,
) -> DatasetSplits:
    """The Free Spoken Digit Dataset as log-mel features (see the module docstring)."""
    if split not in ("official", "speaker"):
        raise ConfigError(f"{OPTION}.split", f"must be 'official' (indices 0-4 are test) or 'speaker' (speaker-disjoint), got {split!r}")
    n_mels = check_int("n_mels", n_mels, 4)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 10:
        raise ConfigError(f"{OPTION}.seconds", f"must be a number of seconds in (0, 10], got {seconds!r}")
    base = Path(root).expanduser() if root is not None else DEFAULT_DATA_DIR / "fsdd" / "recordings"
    folder = _recordings_folder(base, Path(cache_dir).expanduser() if cache_dir is not None else None)
    recordings = find_recordings(folder)
    names = sorted({r[2] for r in recordings})
    if split == "official":
        def is_test(r: tuple[Path, int, str, int]) -> bool:
            return r[3] <= 4
        source = "official (recording indices 0-4)"
    else:
        if test_speakers is None:
            test_speakers = [names[int(np.random.default_rng(seed).integers(len(names)))]]
        if isinstance(test_speakers, str):
            test_speakers = [test_speakers]
        unknown = sorted(set(test_speakers) - set(names))
        if unknown:
            raise ConfigError(f"{OPTION}.test_speakers", f"unknown speaker(s) {unknown}; the recordings have {names}")
        chosen = set(test_speakers)

        def is_test(r: tuple[Path, int, str, int]) -> bool:
            return r[2] in chosen
        source = f"speaker-disjoint (test speakers: {', '.join(test_speakers)})"
    if limit_per_class is not None:  # a seeded random sample per digit, test and training recordings in their proportion
        limit_per_class = check_int("limit_per_class", limit_per_class, 2)
        rng = np.random.default_rng(seed)
        picked = []
        for digit in sorted({r[1] for r in recordings}):
            rows = [r for r in recordings if r[1] == digit]
            test_rows = [r for r in rows if is_test(r)]
            other = [r for r in rows if not is_test(r)]
            n_test = min(len(test_rows), max(1, round(limit_per_class * len(test_rows) / len(rows))))
            for group, count in ((test_rows, n_test), (other, limit_per_class - n_test)):
                picked += [group[i] for i in sorted(rng.permutation(len(group))[:count])]
        recordings = sorted(picked, key=lambda r: r[0])
    rate = None
    length = None
    waves, lengths = [], []
    for path, *_ in recordings:
        samples, sr = read_wav(path)
        if rate is None:
            rate, length = sr, int(round(sr * seconds))
        elif sr != rate:
            raise UserError(f"{path} has sample rate {sr} Hz but the others {rate} Hz; resample the recordings to one rate")
        if len(samples) > length:
            start = (len(samples) - length) // 2
            samples = samples[start : start + length]
        clip = np.zeros(length, dtype=np.float32)
        clip[: len(samples)] = samples
        waves.append(clip)
        lengths.append(len(samples))
    x = torch.from_numpy(np.stack(waves))
    n = torch.tensor(lengths)
    y = torch.tensor([r[1] for r in recordings])
    test_mask = torch.tensor([is_test(r) for r in recordings])
    rest = torch.nonzero(~test_mask).flatten()
    valid_part, train_part = stratified_split(y[rest], [check_fraction("valid_fraction", valid_fraction)], seed)
    valid_idx, train_idx = rest[valid_part], rest[train_part]
    if max_train_samples is not None:
        train_idx = train_idx[: check_int("max_train_samples", max_train_samples, 1, "evaluator.options")]
    test_idx = torch.nonzero(test_mask).flatten()
    featurizer = LogMel(int(rate), n_mels)
    with torch.no_grad():
        train_feats = featurizer(x[train_idx])
    mean, std = float(train_feats.mean()), float(train_feats.std().clamp_min(1e-6))

    def part(idx: torch.Tensor) -> SpeechDataset:
        return SpeechDataset(x[idx], n[idx], y[idx], featurizer, mean, std)

    train, valid, test = part(train_idx), part(valid_idx), part(test_idx)
    for data, name in ((train, "train"), (valid, "valid"), (test, "test")):
        if len(data) == 0:
            raise UserError(f"the fsdd {name} split is empty ({source}); use more recordings")
        check_nonempty_classes(data.labels, 10, [str(d) for d in range(10)], name)
    return DatasetSplits(
        train=train, valid=valid, test=test, input_shape=tuple(int(s) for s in train.features.shape[1:]), num_classes=10,
        class_names=tuple(str(d) for d in range(10)), name="fsdd",
        info={"test_split": source, "sample_rate": rate, "train": len(train), "valid": len(valid), "test": len(test), "mean": (mean,), "std": (std,)},
    )


# -- the space ------------------------------------------------------------------------------------
HEADS = ("pool", "gru", "lstm")


def crnn_space(
    max_stages: int = 3,
    channels: Sequence[int] = (16, 32, 64),
    kernel_sizes: Sequence[int] = (3, 5),
    poolings: Sequence[str] = ("max", "avg"),
    heads: Sequence[str] = HEADS,
    hidden_sizes: Sequence[int] = (32, 64),
    dropouts: Sequence[float] = (0.0, 0.2),
) -> SearchSpace:
    """CNN / CRNN over log-mel spectrograms.

    Choices: ``stages`` (1..``max_stages`` conv blocks, each Conv-BN-ReLU and a 2x2 pooling),
    ``channels_1 .. channels_<stages>``, ``kernel_size``, ``pooling`` (``max`` or ``avg``),
    ``head`` (``pool``: average over time; ``gru``/``lstm``: a recurrent layer over time,
    its outputs averaged; either way each frame's channels x frequency bins are its features,
    since where the energy lies in frequency is what tells digits apart), ``hidden`` (recurrent heads),
    ``dropout`` before the classifier.
    """
    if isinstance(max_stages, bool) or not isinstance(max_stages, int) or not 1 <= max_stages <= 6:
        raise ConfigError("space.options.max_stages", f"must be an integer from 1 to 6, got {max_stages!r}")
    chans = sorted(choice_values("channels", channels, int, lambda v: v >= 1))
    kernels = sorted(choice_values("kernel_sizes", kernel_sizes, int, lambda v: v >= 1 and v % 2 == 1))
    pools = choice_values("poolings", poolings, str, lambda v: v in ("max", "avg"))
    hds = choice_values("heads", heads, str, lambda v: v in HEADS)
    hidden = sorted(choice_values("hidden_sizes", hidden_sizes, int, lambda v: v >= 1))
    drops = sorted(float(d) for d in choice_values("dropouts", dropouts, (int, float), lambda v: 0 <= v < 1))
    choices: list[dict[str, Any]] = [
        {"name": "stages", "type": "int", "low": 1, "high": max_stages},
        {"name": "channels", "values": chans, "ordered": True, "repeat": "stages"},
        {"name": "kernel_size", "values": kernels, "ordered": True},
        {"name": "pooling", "values": pools},
        {"name": "head", "values": hds},
        {"name": "dropout", "values": drops, "ordered": True},
    ]
    recurrent = [h for h in hds if h != "pool"]
    if recurrent:
        choices.append({"name": "hidden", "values": hidden, "ordered": True, "when": {"head": recurrent}})
    return SearchSpace.from_config(choices, name="crnn")


class CRNN(nn.Module):
    """Conv stages with 2x2 pooling, then pooling or a recurrent layer over time (frequency kept as features), then a linear classifier."""

    def __init__(self, in_channels: int, stage_channels: Sequence[int], kernel_size: int, pooling: str, head: str, hidden: int,
                 dropout: float, num_classes: int, mels: int = 40) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for c in stage_channels:
            mels = (mels + 1) // 2
            layers += [nn.Conv2d(previous, int(c), kernel_size, padding=kernel_size // 2, bias=False), nn.BatchNorm2d(int(c)), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True) if pooling == "max" else nn.AvgPool2d(2, ceil_mode=True)]
            previous = int(c)
        self.features = nn.Sequential(*layers)
        self.head = head
        features = previous * mels  # frequency stays a feature axis: where the energy lies is what tells digits apart
        if head == "pool":
            out = features
        elif head in ("gru", "lstm"):
            self.rnn = (nn.GRU if head == "gru" else nn.LSTM)(features, hidden, batch_first=True)
            out = hidden
        else:
            raise SpaceError(f"unknown crnn head {head!r}; choose from {list(HEADS)}")
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (N, C, mels', frames')
        seq = h.flatten(1, 2).transpose(1, 2)  # (N, frames', C * mels')
        if self.head == "pool":
            pooled = seq.mean(dim=1)
        else:
            out, _ = self.rnn(seq)  # (N, frames', hidden)
            pooled = out.mean(dim=1)
        return self.classifier(self.dropout(pooled))


def build_crnn(arch: Mapping[str, Any], input_shape: Sequence[int] = (1, 40, 101), num_classes: int = 10) -> nn.Module:
    """Build the :class:`CRNN` of a ``crnn`` architecture."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ConfigError("input_shape", f"the 'crnn' model takes (channels, mels, frames) inputs, got {shape}")
    try:
        stages = int(arch["stages"])
        return CRNN(shape[0], [int(arch[f"channels_{i}"]) for i in range(1, stages + 1)], int(arch["kernel_size"]), str(arch["pooling"]),
                    str(arch["head"]), int(arch.get("hidden", 64)), float(arch.get("dropout", 0.0)), int(num_classes), mels=shape[1])
    except KeyError as exc:
        raise SpaceError(f"architecture for the 'crnn' builder lacks {exc.args[0]!r}; it needs the choices of the 'crnn' space, got {dict(arch)}") from None


DATASETS = {"fsdd": load_fsdd}
