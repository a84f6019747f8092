"""What a crash, a typo or a bad place leaves behind: torn records kept aside and repaired, resume
from the set of finished keys, refused starts that write nothing, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augsearch.cli import main
from augsearch.search.rundir import RunDir

TINY = ["--dataset", "digits", "--subset", "200", "--epochs", "1", "--batch-size", "64", "--folds", "1",
        "--trials", "4", "--top-n", "1", "--startup-trials", "2", "--num-sub-policies", "2", "--draws", "1",
        "--engine", "local", "--quiet", "--no-report"]


def keys(run: Path) -> list[tuple[int, int, int]]:
    return sorted((t.split, t.repeat, t.trial) for t in RunDir(run).trials())


@pytest.fixture
def finished(tmp_path) -> Path:
    out = tmp_path / "run"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    return out


def test_a_finished_run_holds_no_lock_file(finished):
    assert not (finished / ".lock").exists()


def test_a_torn_last_record_is_kept_aside_and_the_run_resumes(finished, capsys):
    trials = finished / "trials.jsonl"
    lines = trials.read_text().splitlines(keepends=True)
    torn = lines[-1][: len(lines[-1]) // 2]
    trials.write_text("".join(lines[:-1]) + torn)  # a crash in the middle of the last write
    assert keys(finished) == [(0, 0, 0), (0, 0, 1), (0, 0, 2)]  # the torn line is no record
    assert main(["run", "--resume", str(finished), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert keys(finished) == [(0, 0, n) for n in range(4)]
    assert (finished / "trials.jsonl.torn").read_text() == torn + "\n"  # kept, not lost
    assert all(json.loads(line) for line in trials.read_text().splitlines())  # no broken line stays
    before = trials.read_text()
    assert main(["run", "--resume", str(finished), "--quiet", "--no-report"]) == 0
    assert trials.read_text() == before  # nothing to redo


def test_resume_fills_a_gap_by_key_not_by_count(finished):
    trials = finished / "trials.jsonl"
    lines = trials.read_text().splitlines(keepends=True)
    trials.write_text("".join(lines[:1] + lines[2:]))  # trial 1 lost, trials 2 and 3 kept
    assert main(["run", "--resume", str(finished), "--quiet", "--no-report"]) == 0
    assert keys(finished) == [(0, 0, n) for n in range(4)]
    numbers = [json.loads(line)["trial"] for line in trials.read_text().splitlines()]
    assert sorted(numbers) == [0, 1, 2, 3]  # exactly the missing one was redone


def test_a_duplicated_record_counts_once(finished):
    trials = finished / "trials.jsonl"
    first = trials.read_text().splitlines(keepends=True)[0]
    trials.write_text(trials.read_text() + first)
    assert keys(finished) == [(0, 0, n) for n in range(4)]


@pytest.mark.parametrize("bad, message", [
    (["--dataset", "folder:/no/such/folder"], "/no/such/folder"),
    (["--model", "timm:no_such_net"], "unknown timm model"),
    (["--engine", "ray", "--cpus-per-trial", "4096"], "cpus-per-trial"),
])
def test_a_refused_start_writes_nothing_and_the_fixed_command_runs(tmp_path, capsys, bad, message):
    out = tmp_path / "run"
    assert main(["run", *TINY, *bad, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert main(["run", *TINY, "--out", str(out)]) == 0  # the same --out, once fixed


def test_unwritable_places_are_one_line_errors(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for command in (["run", *TINY], ["train", "trivial", "--epochs", "1", "--quiet"],
                    ["compare", "trivial", "--epochs", "1", "--seeds", "1", "--engine", "local", "--quiet"]):
        assert main([*command, "--out", str(blocker / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert "cannot create the directory" in err and len(err.splitlines()) == 1, err


def test_a_refused_train_writes_nothing(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "trivial", "--model", "timm:no_such_net", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 2
    assert "unknown timm model" in capsys.readouterr().err and not out.exists()


def test_a_remote_task_writes_nothing_itself_and_the_driver_records_what_it_sends(tmp_path):
    import torch

    from augsearch.data import load_dataset, stratified_splits
    from augsearch.registry import build
    from augsearch.search.config import resolve
    from augsearch.search.objectives import OBJECTIVES
    from augsearch.search.runners import SplitWork
    from augsearch.search.spaces import SPACES
    from augsearch.search.study import Budget

    cfg = resolve(overrides=dict(dataset="digits", subset=200, epochs=1, batch_size=64, folds=1, trials=3, top_n=1,
                                 startup_trials=1, num_sub_policies=2, draws=1, engine="local",
                                 out=str(tmp_path / "run")))
    data = load_dataset("digits", subset=200)
    options = cfg.to_dict()
    work = SplitWork(data, stratified_splits(data.labels, n_splits=1, seed=0), build(SPACES.get("fast-aa"), options),
                     build(OBJECTIVES.get("density-matching"), options), Budget(3, 1, 1, 0), cfg.out)
    RunDir(cfg.out).create(options)
    sent: list[tuple] = []

    class Channel:
        def put(self, item):
            sent.append(item)

    work.remote(Channel())(0, torch.device("cpu"))
    run = RunDir(cfg.out)
    assert not run.trials_file.exists() and not run.proxy_weights(0).exists()  # the worker wrote nothing
    assert [item[0] for item in sent].count("trial") == 3
    for item in sent:
        work.record(item)  # the driver writes
    assert keys(run.path) == [(0, 0, 0), (0, 0, 1), (0, 0, 2)] and run.proxy_weights(0).exists()
    resumed = work.remote(Channel())
    assert resumed.store.read_bytes("proxies/split0.pt") == run.proxy_weights(0).read_bytes()
    sent.clear()
    resumed(0, torch.device("cpu"))
    assert sent == []  # everything was done: nothing trained, nothing sent
    with pytest.raises(ValueError, match="unknown record"):
        work.record(("file", "../../etc/passwd", b"x"))


def test_progress_in_a_log_prints_phases_and_tenths(tmp_path):
    import io

    from rich.console import Console

    from augsearch import Policy
    from augsearch.search.progress import Progress
    from augsearch.search.rundir import Trial

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    log = io.StringIO()
    candidate = Policy([[("Invert", 0.5, None)]]).to_config()
    with Progress(run, folds=1, per_split=20, console=Console(file=log, force_terminal=False), interval=0.05):
        for n in range(20):
            run.append_trial(Trial(split=0, repeat=0, trial=n, params={}, candidate=candidate, score=n / 20))
    lines = log.getvalue().splitlines()
    assert "preparing" in lines[0] and "split 0: scoring candidates" in lines[1]
    assert lines[-1].endswith("split 0: 20/20 trials, best 0.9500, failed 0")
    assert 2 < len(lines) <= 13  # at most one line per tenth, not one per trial
