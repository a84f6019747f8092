"""--tensorboard: the event files hold each trial's score (search) and each epoch's metrics (train),
read back here record by record; an unusable folder is a one-line error before anything starts."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from tensorboardX.proto.event_pb2 import Event

from augsearch import load_policy
from augsearch.cli import main
from augsearch.search.progress import TrialScalars
from augsearch.search.rundir import RunDir, Trial


def scalars(folder: Path) -> dict[str, dict[int, float]]:
    """tag -> step -> value, from every event file in ``folder`` (TFRecord: length, its CRC, the
    Event, its CRC)."""
    out: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def test_train_writes_every_epoch(tmp_path, capsys):
    board = tmp_path / "tb"
    assert main(["train", "none", "--dataset", "digits", "--subset", "300", "--epochs", "2", "--batch-size", "64",
                 "--model", "small-cnn", "--out",
                 str(tmp_path / "t"), "--quiet", "--tensorboard", str(board)]) == 0
    epochs = [json.loads(line) for line in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    seen = scalars(board)
    for name in ("loss", "train_acc", "test_acc", "lr"):
        assert seen[name] == pytest.approx({m["epoch"]: m[name] for m in epochs}, rel=1e-6), name


def test_a_search_writes_every_trial(tmp_path, capsys):
    board = tmp_path / "tb"
    out = tmp_path / "run"
    assert main(["run", "--dataset", "digits", "--subset", "200", "--epochs", "1", "--folds", "2", "--trials", "3",
                 "--top-n", "1", "--draws", "1", "--engine", "local", "--out", str(out), "--quiet", "--no-report",
                 "--tensorboard", str(board)]) == 0
    seen = scalars(board)
    for trial in RunDir(out).trials():
        assert seen[f"split{trial.split}/score"][trial.trial] == pytest.approx(trial.score, rel=1e-6)
        assert f"split{trial.split}/accuracy" in seen
    assert sum(len(seen[f"split{k}/score"]) for k in (0, 1)) == 6


def test_a_resumed_search_writes_only_the_new_trials(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create({})
    candidate = load_policy("trivial").to_config()
    run.append_trial(Trial(0, 0, 0, {}, candidate, 0.5))  # written before the resume
    with TrialScalars(run, tmp_path / "tb", per_search=10, interval=0.01):
        run.append_trial(Trial(0, 1, 2, {}, candidate, 0.75, metrics={"loss": 0.25}))
        run.append_trial(Trial(1, 0, 0, {}, None, None, error="boom"))
    assert scalars(tmp_path / "tb") == {"split0/score": {12: 0.75}, "split0/loss": {12: 0.25},
                                        "split0/seconds": {12: 0.0}, "split1/failed": {0: 1.0}}


@pytest.mark.parametrize("command", [["train", "none"], ["run"]])
def test_an_unusable_folder_is_refused_before_anything_starts(tmp_path, command, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = tmp_path / "out"
    assert main([*command, "--out", str(out), "--tensorboard", str(blocker / "tb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--tensorboard {blocker / 'tb'}: cannot write here" in err[0]
    assert not out.exists() and not (blocker / "tb").exists()
