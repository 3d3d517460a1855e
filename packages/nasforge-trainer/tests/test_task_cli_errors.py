"""Bad task input through ``nasforge run``: one clear line on stderr, exit 2, no traceback, no trial run."""

from __future__ import annotations

import csv
import re
import struct
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import yaml

CLI = [sys.executable, "-m", "nasforge.core.cli", "run"]


def _csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _wav(path: Path, value: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<400h", *([value] * 400)))


def _text(tmp: Path) -> dict:
    return {"space": {"name": "text"}, "objectives": ["accuracy"]}


def _missing_columns(tmp: Path) -> tuple[dict, str]:
    path = _csv(tmp / "reviews.csv", [("good", "a"), ("bad", "b")] * 10, header=("sentence", "label"))
    return {**_text(tmp), "evaluator": {"name": "trainer", "options": {"dataset": "text_csv", "dataset_options": {"path": str(path)}}}}, r"has no column\(s\) \['text'\]"


def _empty_class(tmp: Path) -> tuple[dict, str]:
    train = _csv(tmp / "train.csv", [("good film", "pos"), ("bad film", "neg")] * 10)
    test = _csv(tmp / "test.csv", [("fine film", "pos"), ("odd film", "neutral")])
    options = {"dataset": "text_csv", "dataset_options": {"path": str(train), "test_path": str(test)}}
    return {**_text(tmp), "evaluator": {"name": "trainer", "options": options}}, r"\['neutral'\] have no training example \(empty class\)"


def _corrupt_wav(tmp: Path) -> tuple[dict, str]:
    folder = tmp / "recordings"
    folder.mkdir()
    for digit in range(10):
        for index in range(6):
            _wav(folder / f"{digit}_jo_{index}.wav", 100 * digit)
    (folder / "3_jo_2.wav").write_bytes(b"RIFF\x00\x00not a wave file")
    options = {"dataset": "fsdd", "dataset_options": {"root": str(folder)}}
    return {"space": {"name": "crnn"}, "objectives": ["accuracy"], "evaluator": {"name": "trainer", "options": options}}, r"cannot read WAV file .*3_jo_2\.wav"


def _ratings_format(tmp: Path) -> tuple[dict, str]:
    folder = tmp / "ml"
    folder.mkdir()
    (folder / "u.data").write_text("1,10,5,881250949\n2,11,3,891717742\n")  # commas, not tabs
    options = {"dataset": "movielens", "dataset_options": {"root": str(folder)}}
    return {"space": {"name": "ncf"}, "objectives": ["hr_at_10"], "evaluator": {"name": "trainer", "options": options}}, r"u\.data:1: expected 4 tab-separated integers"


def _split_option_in_dataset_options(tmp: Path) -> tuple[dict, str]:
    path = _csv(tmp / "texts.csv", [("good", "a"), ("bad", "b")] * 10)
    options = {"dataset": "text_csv", "dataset_options": {"path": str(path), "max_train_samples": 10}}
    return {**_text(tmp), "evaluator": {"name": "trainer", "options": options}}, r"set evaluator\.options\.max_train_samples instead"


@pytest.mark.parametrize("case", [_missing_columns, _empty_class, _corrupt_wav, _ratings_format, _split_option_in_dataset_options], ids=lambda f: f.__name__.strip("_"))
def test_bad_task_input_is_one_line_and_exit_2(case, tmp_path):
    config, message = case(tmp_path)
    config = {"name": "bad-input", "budget": {"trials": 1}, **config}
    config["evaluator"]["options"]["epochs"] = 1
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([*CLI, str(path), "--dir", str(tmp_path / "run"), "--quiet"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert "Traceback" not in out.stderr and len(errors) == 1, out.stderr
    assert errors[0].startswith("error: ") and re.search(message, errors[0]), errors[0]
