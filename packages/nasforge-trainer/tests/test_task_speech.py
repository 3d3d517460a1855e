"""Speech task: WAV reading, log-mel features, official and speaker-disjoint splits, the crnn space, noise corruption."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import torch
from nasforge_trainer_testing import SHARED_DATA, require_shared

from nasforge.core.errors import UserError
from nasforge.trainer.data import load_dataset
from nasforge.trainer.models import build_model
from nasforge.trainer.tasks.speech import LogMel, load_fsdd, mel_filters, read_wav
from nasforge.trainer.training import TrainConfig, fit

FSDD = SHARED_DATA / "speech" / "fsdd-recordings.tar.gz"


def _tone(path, freq, rate=8000, seconds=0.4, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    samples = (amplitude * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


@pytest.fixture
def toy_recordings(tmp_path):
    """10 'digits' as tones of different pitch, 2 speakers x 8 recordings each."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    for digit in range(10):
        for speaker, shift in (("ann", 0), ("bob", 15)):
            for index in range(8):
                _tone(folder / f"{digit}_{speaker}_{index}.wav", 200 + 300 * digit + shift + 3 * index)
    return folder


def test_read_wav_and_log_mel_features(tmp_path):
    _tone(tmp_path / "a.wav", 1000, seconds=0.5)
    samples, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and len(samples) == 4000 and 0.45 < np.abs(samples).max() <= 0.5
    filters = mel_filters(256, 40, 8000)
    assert filters.shape == (129, 40) and bool((filters >= 0).all())
    feats = LogMel(8000, 40)(torch.from_numpy(samples).unsqueeze(0))
    assert feats.shape == (1, 1, 40, 51)
    # the energy sits in the mel band of 1 kHz
    band = int(feats[0, 0].mean(dim=1).argmax())
    centres = (filters * torch.arange(129).unsqueeze(1) * 8000 / 256).sum(0) / filters.sum(0)
    assert abs(float(centres[band]) - 1000) < 150


def test_unreadable_wav_is_one_clear_user_error(toy_recordings):
    (toy_recordings / "3_ann_99.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(UserError, match=r"cannot read WAV file .*3_ann_99.wav"):
        load_fsdd(toy_recordings)


def test_official_and_speaker_disjoint_splits(toy_recordings):
    official = load_fsdd(toy_recordings, valid_fraction=0.2, seed=0)
    assert official.info["test"] == 10 * 2 * 5 and official.input_shape == (1, 40, 101)
    speaker = load_fsdd(toy_recordings, split="speaker", test_speakers=["bob"], valid_fraction=0.2, seed=0)
    assert speaker.info["test"] == 80 and "bob" in speaker.info["test_split"]
    with pytest.raises(Exception, match="unknown speaker"):
        load_fsdd(toy_recordings, split="speaker", test_speakers=["carl"])
    # the crnn space's models train on the features
    torch.manual_seed(0)
    for arch in ({"stages": 2, "channels_1": 8, "channels_2": 8, "kernel_size": 3, "pooling": "max", "head": "pool", "dropout": 0.0},
                 {"stages": 1, "channels_1": 8, "kernel_size": 3, "pooling": "avg", "head": "gru", "hidden": 16, "dropout": 0.0}):
        model = build_model("crnn", arch, official.input_shape, 10)
        result = fit(model, official, TrainConfig(epochs=6, lr=0.01, batch_size=16))
        assert result.valid_accuracy > 0.5, arch  # chance: 0.1


def test_noise_corruption_hits_the_requested_snr(toy_recordings):
    splits = load_fsdd(toy_recordings, valid_fraction=0.2, seed=0)
    clean = splits.test
    for severity, snr in ((1, 30.0), (5, 0.0)):
        noisy = clean.corrupted("noise", severity, seed=1)
        n = clean.lengths[0]
        signal = clean.waves[0, :n]
        noise = noisy.waves[0, :n] - signal
        measured = 10 * torch.log10((signal**2).mean() / (noise**2).mean())
        assert abs(float(measured) - snr) < 1.0
    assert not torch.equal(noisy.features, clean.features)


def test_shared_fsdd_archive_extracts_to_a_cache_and_loads(tmp_path):
    require_shared(FSDD)
    splits = load_dataset("fsdd", root=str(FSDD), cache_dir=str(tmp_path / "cache"), limit_per_class=12, seed=0)
    assert (tmp_path / "cache").is_dir() and splits.num_classes == 10
    assert splits.info["train"] + splits.info["valid"] + splits.info["test"] == 120
