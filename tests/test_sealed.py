"""A resume continues the job that was started: a config or policy file edited since the start is
refused with what changed (before: a training resumed from 4 to 7 epochs trained two epochs on one
cosine and the rest on another, and a comparison trained later seeds with an edited policy)."""

from __future__ import annotations

import pytest

from augsearch import Policy
from augsearch import trainer as trainer_module
from augsearch.cli import main
from augsearch.jobs.workdir import WorkDir
from augsearch.proof import train as train_module
from augsearch.proof.compare import CompareWork


def _crash_after_one_epoch(monkeypatch):
    """Make each training stop with Ctrl-C once its next epoch is recorded."""
    real = trainer_module.fit

    def crashing(*args, **kwargs):
        record = kwargs["on_epoch"]

        def stop(metrics):
            record(metrics)
            raise KeyboardInterrupt

        return real(*args, **{**kwargs, "on_epoch": stop})

    monkeypatch.setattr(train_module, "fit", crashing)
    return real


def test_a_training_resumed_from_an_edited_config_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "t"
    real = _crash_after_one_epoch(monkeypatch)
    assert main(["train", "trivial", "--subset", "200", "--epochs", "4", "--out", str(out), "--quiet"]) == 130
    monkeypatch.setattr(train_module, "fit", real)
    config = out / "config.yaml"
    original = config.read_text()
    config.write_text(original.replace("epochs: 4", "epochs: 7"))
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: edited since this job started (epochs: 4 -> 7); put it back, or start anew" in err, err
    (out / "policy.yaml").write_text((out / "policy.yaml").read_text() + "\n# a comment changes nothing\n")
    config.write_text("# layout and comments may change\n" + original)
    assert main(["train", "--resume", str(out), "--quiet"]) == 0


def test_a_comparison_resumed_after_its_policy_file_was_edited_is_refused(tmp_path, monkeypatch, capsys):
    mine = Policy([[("Invert", 1.0, None)]]).save(tmp_path / "mine.yaml")
    out = tmp_path / "c"
    calls = []
    real = CompareWork.__call__

    def stop_on_second(self, k, device):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, k, device)

    monkeypatch.setattr(CompareWork, "__call__", stop_on_second)
    assert main(["compare", str(mine), "--controls", "none", "--epochs", "1", "--seeds", "2", "--subset", "150",
                 "--engine", "local", "--out", str(out), "--quiet"]) == 130
    capsys.readouterr()
    Policy([[("Solarize", 1.0, 5)]]).save(mine)
    assert main(["compare", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{mine}: edited since this job started (sub_policies: " in err and "another --out" in err, err


def test_a_search_resumed_from_an_edited_config_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    WorkDir(out).path.mkdir()
    (out / "config.yaml").write_text("space: fast-aa\ntrials: 4\n")
    WorkDir(out).seal(out / "config.yaml")
    (out / "config.yaml").write_text("space: fast-aa\ntrials: 9\n")
    assert main(["run", "--resume", str(out), "--quiet"]) == 2
    assert "config.yaml: edited since this job started (trials: 4 -> 9)" in capsys.readouterr().err


def test_a_sealed_file_that_is_gone_or_unreadable_says_so(tmp_path):
    folder = WorkDir(tmp_path / "job")
    folder.path.mkdir()
    outside = tmp_path / "policy.yaml"
    outside.write_text("augsearch: 1\nkind: cutout\nsize: 4\n")
    (folder.path / "config.yaml").write_text("a: 1\n")
    folder.seal(folder.config_file, outside)
    folder.check_sealed()
    outside.write_text("augsearch: 1\nkind: cutout\nsize: [4\n")
    with pytest.raises(Exception, match=r"policy\.yaml: edited since this job started \(its content differs\)"):
        folder.check_sealed()
    outside.unlink()
    with pytest.raises(Exception, match=r"edited since this job started \(it is gone\)"):
        folder.check_sealed()


def test_a_torn_epoch_line_is_set_aside_when_a_training_resumes(tmp_path, monkeypatch, capsys):
    import json
    out = tmp_path / "t"
    real = _crash_after_one_epoch(monkeypatch)
    assert main(["train", "none", "--subset", "150", "--epochs", "3", "--out", str(out), "--quiet"]) == 130
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "lo')  # a write the crash cut short
    assert main(["train", "--resume", str(out), "--quiet"]) == 130  # one more epoch, then the next crash
    lines = (out / "metrics.jsonl").read_text().splitlines()
    # before: the torn bytes stayed mid-file, glued to the next epoch's line, until the run finished
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert (out / "metrics.jsonl.torn").read_text() == '{"epoch": 2, "lo\n'
    monkeypatch.setattr(train_module, "fit", real)
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
