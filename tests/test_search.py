"""The search: splits, scoring on D_A only, merge, resume, both engines, and a dataset whose
right answer is known."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from conftest import write_two_tone_folder

import augsearch
from augsearch.cli import main
from augsearch.data import ImageSet, load_dataset, stratified_splits
from augsearch.errors import AugsearchError, ConfigError
from augsearch.registry import build
from augsearch.search import objectives, study
from augsearch.search.config import resolve
from augsearch.search.objectives import OBJECTIVES
from augsearch.search.run import search
from augsearch.search.rundir import RunDir, Trial
from augsearch.search.runners import SplitWork
from augsearch.search.spaces import FAST_AA_OPS, SPACES
from augsearch.search.study import Budget, kept

TINY = dict(dataset="digits", subset=300, epochs=2, batch_size=64, folds=2, trials=4, top_n=2, startup_trials=2,
            num_sub_policies=2, num_ops=2, draws=2, engine="local")


def tiny(tmp_path: Path, **changes) -> augsearch.search.RunConfig:
    return resolve(overrides={**TINY, "out": str(tmp_path / "run"), **changes})


def work_for(cfg: augsearch.search.RunConfig, data: ImageSet, splits) -> SplitWork:
    """The work one split of ``cfg`` does, composed as ``search`` composes it."""
    options = cfg.to_dict()
    return SplitWork(data, splits, build(SPACES.get(cfg.space), options), build(OBJECTIVES.get(cfg.objective), options),
                     Budget(cfg.trials, cfg.repeats, cfg.startup_trials, cfg.seed), cfg.out)


def test_splits_are_stratified_and_disjoint():
    data = load_dataset("digits", subset=500)
    splits = stratified_splits(data.labels, n_splits=3, train_fraction=0.6, seed=1)
    for k in range(3):
        split = work_for(resolve(overrides=TINY), data, splits).split(k)
        dm, da = splits[k]
        assert set(dm.tolist()).isdisjoint(da.tolist()) and len(dm) + len(da) == 500
        for c in range(10):
            share = (split.model_data.labels == c).float().mean().item()
            assert abs(share - (data.labels == c).float().mean().item()) < 0.02


def _indexed_digits(n: int) -> ImageSet:
    """Digits whose top-left pixel row spells each image's index, to see who saw what."""
    data = load_dataset("digits", subset=n)
    images = data.images.clone()
    images[:, 0, 0, 0] = torch.arange(n) % 256
    images[:, 1, 0, 0] = torch.arange(n) // 256
    return ImageSet(images, data.labels, data.classes, "indexed")


def test_proxy_trains_on_d_m_and_scoring_sees_d_a_only(tmp_path, monkeypatch):
    data = _indexed_digits(300)
    cfg = tiny(tmp_path, space="fast-aa")
    run = RunDir(cfg.out)
    run.create(cfg.to_dict())
    splits = stratified_splits(data.labels, n_splits=2, seed=0)
    seen: dict[str, set[int]] = {"train": set(), "score": set()}

    def ids(images: torch.Tensor) -> set[int]:
        return set((images[:, 0, 0, 0].long() + 256 * images[:, 1, 0, 0].long()).tolist())

    real_train, real_score = objectives.train_proxy, objectives.score_policy
    monkeypatch.setattr(objectives, "train_proxy", lambda m, d, **kw: (seen["train"].update(ids(d.images)),
                                                                     real_train(m, d, **kw))[1])
    monkeypatch.setattr(objectives, "score_policy", lambda p, m, h, **kw: (seen["score"].update(ids(h.images)),
                                                                         real_score(p, m, h, **kw))[1])
    work_for(cfg, data, splits)(0, torch.device("cpu"))
    dm, da = (set(t.tolist()) for t in splits[0])
    assert seen["train"] == dm
    assert seen["score"] == da
    assert len(run.trials()) == cfg.trials


def test_kept_takes_top_n_per_search_and_combine_removes_duplicates():
    sub = lambda name, p: [[name, p, 0.5]]  # noqa: E731

    def trial(split, number, score, *subs):
        candidate = augsearch.Policy(subs, convention="fast-aa").to_config() if subs else None
        return Trial(split=split, repeat=0, trial=number, params={}, candidate=candidate, score=score,
                     error=None if subs else "boom")
    trials = [trial(0, 0, 0.9, sub("Rotate", 0.1)), trial(0, 1, 0.5, sub("Invert", 0.9)),
              trial(0, 2, 0.8, sub("Rotate", 0.1), sub("Color", 0.3)), trial(1, 0, None),
              trial(1, 1, 0.7, sub("ShearX", 0.2))]
    best = kept(trials, top_n=2)
    assert [len(p) for p in best] == [1, 2, 1]
    merged = build(SPACES.get("fast-aa"), {}).combine(best, source="test")
    assert merged.to_config()["sub_policies"] == [sub("Rotate", 0.1), sub("Color", 0.3), sub("ShearX", 0.2)]
    assert merged.source == "test"


def test_local_engine_writes_a_loadable_policy_and_run_files(tmp_path):
    run = search(tiny(tmp_path), quiet=True)
    policy = augsearch.load_policy(run.policy_file)
    assert isinstance(policy, augsearch.Policy) and policy.convention.name == "fast-aa"
    assert 1 <= len(policy) <= 2 * 2 * 2  # folds x top_n x sub-policies
    trials = run.trials()
    assert len(trials) == 8 and {t.split for t in trials} == {0, 1}
    for t in trials:
        assert t.ok and t.params and isinstance(augsearch.files.from_config(t.candidate), augsearch.Policy)
    summary = json.loads(run.summary_file.read_text())
    assert summary["trials"] == 8 and summary["final_sub_policies"] == len(policy)
    config = yaml.safe_load(run.config_file.read_text())
    assert config["trials"] == 4 and config["engine"] == "local"
    for k in (0, 1):
        metrics = json.loads(run.proxy_metrics(k).read_text())
        assert len(metrics["epochs"]) == 2 and 0 <= metrics["holdout_accuracy"] <= 1


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    real = objectives.score_policy
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(objectives, "score_policy", flaky)
    run = search(tiny(tmp_path, folds=1, trials=4), quiet=True)
    errors = [t for t in run.trials() if t.error]
    assert len(errors) == 1 and "out of memory" in errors[0].error and errors[0].score is None
    assert json.loads(run.summary_file.read_text())["failed_trials"] == 1


def test_a_nan_score_is_a_failed_trial_and_the_run_resumes(tmp_path, monkeypatch):
    real = objectives.score_policy

    def nan_once(*args, **kwargs):
        result = real(*args, **kwargs)
        return result | {"score": float("nan")} if kwargs["seed"] == nan_seed else result

    nan_seed = study.seed_of(0, 0, 0, 1)
    monkeypatch.setattr(objectives, "score_policy", nan_once)
    cfg = tiny(tmp_path, folds=1, trials=3, top_n=1)
    run = search(cfg, quiet=True)
    bad = [t for t in run.trials() if t.trial == 1]
    assert len(bad) == 1 and bad[0].score is None and "nan" in bad[0].error
    lines = run.trials_file.read_text().splitlines(keepends=True)
    run.trials_file.write_text("".join(lines[:-1]))  # the resumed search replays the failed trial into a new study
    search(resolve(overrides={"out": cfg.out}), resume=True, quiet=True)
    assert [t.trial for t in run.trials()] == [0, 1, 2]


def test_resume_after_interruption_redoes_nothing(tmp_path, monkeypatch):
    cfg = tiny(tmp_path, trials=5)
    appended = {"n": 0}
    real_append = RunDir.append_trial

    def interrupt(self, record):
        real_append(self, record)
        appended["n"] += 1
        if appended["n"] == 7:  # split 0 done, split 1 two trials in
            raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "append_trial", interrupt)
    with pytest.raises(KeyboardInterrupt):
        search(cfg, quiet=True)
    monkeypatch.setattr(RunDir, "append_trial", real_append)
    with RunDir(cfg.out).locked():  # the interrupted run let go of its directory
        pass
    trained = []
    real_train = objectives.train_proxy
    monkeypatch.setattr(objectives, "train_proxy", lambda m, d, **kw: (trained.append(1), real_train(m, d, **kw))[1])
    run = search(resolve(overrides={"out": cfg.out}), resume=True, quiet=True)
    keys = [(t.split, t.repeat, t.trial) for t in run.trials()]
    assert len(keys) == len(set(keys)) == 10
    assert trained == []  # both proxies were saved before the interruption
    assert run.policy_file.exists()


def test_a_directory_in_use_or_finished_is_refused(tmp_path):
    cfg = tiny(tmp_path, folds=1, trials=2, top_n=1)
    run = RunDir(cfg.out)
    with run.locked():
        with pytest.raises(ConfigError, match="in use"):
            search(cfg, quiet=True)
    search(cfg, quiet=True)
    with pytest.raises(ConfigError, match="already holds a run"):
        search(cfg, quiet=True)


def test_ray_engine_produces_the_same_kind_of_run(tmp_path):
    pytest.importorskip("ray")
    from augsearch.jobs.raycluster import RAY_TEMP_DIR
    before = set(Path(RAY_TEMP_DIR).glob(f"{os.getpid()}-*"))
    run = search(tiny(tmp_path, engine="ray", folds=2, trials=3, top_n=1, cpus_per_trial=1), quiet=True)
    trials = run.trials()
    assert len(trials) == 6 and {t.split for t in trials} == {0, 1}
    assert isinstance(augsearch.load_policy(run.policy_file), augsearch.Policy)
    # before: every run left its Ray folder in /tmp/augsearch-ray (50 folders, 23 MB on one machine)
    assert set(Path(RAY_TEMP_DIR).glob(f"{os.getpid()}-*")) - before == set()


def test_ray_engine_refuses_resources_the_machine_lacks(tmp_path):
    pytest.importorskip("ray")
    with pytest.raises(AugsearchError, match="cpus-per-trial"):
        search(tiny(tmp_path, engine="ray", folds=1, trials=2, top_n=1, cpus_per_trial=4096), quiet=True)


def test_search_learns_to_avoid_ops_that_destroy_the_labels(tmp_path):
    write_two_tone_folder(tmp_path / "data", n=120)
    cfg = resolve(overrides=dict(dataset=f"folder:{tmp_path / 'data'}", image_size=16, epochs=4, batch_size=32,
                                 folds=1, trials=40, top_n=5, startup_trials=10, num_sub_policies=1, num_ops=2,
                                 draws=2, score="loss", engine="local", out=str(tmp_path / "run")))
    run = search(cfg, quiet=True)
    harmful = {"Invert"}  # always swaps the classes (Solarize and Brightness do at some levels only)

    def harm(subs) -> float:
        slots = [op for sub in subs for op in sub]
        return sum(op[1] for op in slots if op[0] in harmful) / len(slots)

    trials = run.trials()
    final = augsearch.load_policy(run.policy_file)
    final_subs = [[[op.name, op.prob, op.magnitude] for op in sp.ops] for sp in final.sub_policies]
    random_harm = len(harmful) / len(FAST_AA_OPS) * 0.5  # expected harm of a uniformly random op slot
    assert harm(final_subs) < 0.4 * random_harm
    random_scores = [t.score for t in trials if t.trial < cfg.startup_trials]
    best = sorted((t.score for t in trials), reverse=True)[:cfg.top_n]
    assert sum(best) / len(best) > sum(random_scores) / len(random_scores)


def test_cli_run_with_config_file_and_overrides(tmp_path, capsys):
    config = tmp_path / "x.yaml"
    config.write_text(yaml.safe_dump({**TINY, "trials": 99, "folds": 1}))
    out = tmp_path / "run"
    assert main(["run", "-c", str(config), "--trials", "3", "--top-n", "1", "--out", str(out), "--quiet",
                 "--no-report"]) == 0
    assert capsys.readouterr().out.strip().endswith("policy.yaml")
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["trials"] == 3 and resolved["folds"] == 1 and resolved["subset"] == 300


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "trials (--trials) must be at least 1"),
    (["--trials", "8", "--top-n", "20"], "top_n (--top-n) must be at most trials (8) (got 20)"),
    (["--score", "median"], "unknown score rule 'median'; known: best-of-k, accuracy, loss"),
    (["--space", "nope"], "unknown search space"),
    (["--dataset", "folder:/no/such/dir"], "/no/such/dir"),
])
def test_cli_run_bad_options_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["run", "--engine", "local", "--out", str(tmp_path / "r"), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_config_file_errors_name_the_file_and_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("trials: 5\nepochz: 3\n")
    assert main(["run", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "epochz" in err


@pytest.mark.parametrize("path", sorted(Path(__file__).parent.parent.glob("experiments/*.yaml")), ids=lambda p: p.name)
def test_experiment_configs_resolve(path):
    cfg = resolve(file=path)
    assert cfg.space in SPACES.names() and cfg.objective and cfg.out


def test_a_dataset_that_fails_to_load_leaves_the_out_directory_reusable(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", "--engine", "local", "--out", str(out), "--quiet", "--no-report", "--trials", "2", "--top-n", "1",
            "--folds", "1", "--epochs", "1", "--subset", "100"]
    assert main([*args, "--dataset", f"folder:{tmp_path / 'missing'}"]) == 2
    assert not (out / "config.yaml").exists()
    assert main([*args, "--dataset", "digits"]) == 0


def test_resume_of_a_directory_without_a_run_is_refused_without_creating_it(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["run", "--resume", str(missing)]) == 2
    assert "not a run directory" in capsys.readouterr().err and not missing.exists()


def test_the_lock_is_held_against_another_process(tmp_path):
    import subprocess
    import sys

    run = RunDir(tmp_path / "run")
    with run.locked():
        probe = ("from augsearch.search.rundir import RunDir\n"
                 f"with RunDir({str(run.path)!r}).locked(): pass\n")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode != 0 and "in use by another augsearch run" in done.stderr
    with run.locked():  # released again
        pass


def test_every_search_leaves_an_optuna_journal_with_every_trial(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    run = search(tiny(tmp_path), quiet=True)
    storage = JournalStorage(JournalFileBackend(str(run.path / "optuna.journal")))
    import optuna

    studies = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    assert sorted(studies) == ["split0-repeat0", "split1-repeat0"]
    study = optuna.load_study(study_name="split0-repeat0", storage=storage)
    records = sorted((t for t in run.trials() if t.split == 0), key=lambda t: t.trial)
    assert [t.value for t in study.trials] == [t.score for t in records]
    assert [t.params for t in study.trials] == [t.params for t in records]
    assert study.user_attrs["space"] == "fast-aa" and "accuracy" in study.trials[0].user_attrs


@pytest.mark.parametrize("spec", ["fast-aa/reduced-cifar10", "autoaugment/imagenet", "randaugment/torchvision"])
def test_a_candidates_draws_scored_in_one_call_score_as_one_call_each(spec, monkeypatch):
    from augsearch.models import build_model

    data = load_dataset("digits", subset=120, seed=0)
    holdout = ImageSet(data.images, data.labels, data.classes, "digits")
    model = build_model("small-cnn", num_classes=len(data.classes), image_size=data.images.shape[-1], seed=0)
    policy = augsearch.load_policy(spec)
    together = objectives.score_policy(policy, model, holdout, draws=4, rule="best-of-k", seed=3, device="cpu")
    monkeypatch.setattr(augsearch.policy, "DRAWS_BYTES", 0)  # one draw a call
    alone = objectives.score_policy(policy, model, holdout, draws=4, rule="best-of-k", seed=3, device="cpu")
    for key in ("score", "accuracy", "best_of_k", "loss"):
        assert together[key] == alone[key]


def test_policies_say_whether_an_image_reads_its_batch():
    assert not augsearch.load_policy("fast-aa/reduced-cifar10").reads_batch
    assert augsearch.Policy([[("SamplePairing", 0.5, 3)], [("Rotate", 1.0, 2)]]).reads_batch
    assert not augsearch.RandAugment(2, 9).reads_batch
    assert augsearch.RandAugment(2, 9, convention="autoaugment", ops=["Rotate", "SamplePairing"]).reads_batch
    assert not augsearch.Cutout().reads_batch and not augsearch.AugMix().reads_batch
    assert not augsearch.load_policy("pba/reduced-cifar10").reads_batch

    class Unknown(augsearch.Augment):  # no kind of its own: not registered
        pass

    assert Unknown(convention="autoaugment").reads_batch  # a kind that cannot say is taken to read it


def test_start_up_trials_fit_the_trials_and_a_search_that_never_left_them_says_so(tmp_path, capsys):
    from augsearch.search.config import resolve
    assert resolve(overrides=dict(trials=8)).startup_trials == 4  # before: 10, so 8 trials were all random
    assert resolve(overrides=dict(trials=40)).startup_trials == 10
    assert resolve(overrides=dict(trials=1)).startup_trials == 1
    assert resolve(overrides=dict(trials=8, startup_trials=0)).startup_trials == 0
    run = search(tiny(tmp_path, trials=3, startup_trials=5, folds=1, top_n=1), quiet=True)
    summary = json.loads(run.summary_file.read_text())
    assert summary["sampled_at_random"] is True and summary["splits"]["0"]["random_mean"] is None
    assert any("this search sampled at random; lower --startup-trials" in w for w in summary["warnings"])
    guided = search(tiny(tmp_path / "b", trials=4, folds=1, top_n=1), quiet=True)  # TINY: 2 random, then TPE
    summary = json.loads(guided.summary_file.read_text())
    assert summary["sampled_at_random"] is False and summary["splits"]["0"]["random_mean"] is not None
    assert not any("sampled at random" in w for w in summary["warnings"])


def test_tampered_weights_are_one_line_that_never_advises_loading_them_unsafely(tmp_path, capsys):
    run = search(tiny(tmp_path, folds=1, trials=4, top_n=1), quiet=True)
    lines = run.trials_file.read_text().splitlines(keepends=True)
    run.trials_file.write_text("".join(lines[:2]))
    run.policy_file.unlink()
    proxy = run.proxy_weights(0)
    proxy.write_bytes(b"not weights at all")
    assert main(["run", "--resume", str(run.path), "--quiet"]) == 2
    err = capsys.readouterr().err
    # before: a torch.load traceback that suggested weights_only=False, which runs a file's code
    assert ("proxies/split0.pt: not this run's proxy weights (not a file of torch weights); delete it to train the "
            "proxy again") in err and "weights_only" not in err and len(err.strip().splitlines()) == 1
    proxy.unlink()
    assert main(["run", "--resume", str(run.path), "--quiet"]) == 0
    assert len(run.trials()) == 4


def test_a_tampered_checkpoint_is_one_line(tmp_path):
    from augsearch.trainer import _restore
    path = tmp_path / "checkpoint.pt"
    for content in (b"garbage", b""):
        path.write_bytes(content)
        model = torch.nn.Linear(2, 2)
        with pytest.raises(ConfigError, match=r"checkpoint\.pt: cannot resume from this checkpoint \((not a file of "
                                              r"torch weights|.*)\); delete it") as info:
            _restore(path, model, torch.optim.SGD(model.parameters(), lr=0.1), None, torch.device("cpu"))
        assert "weights_only" not in str(info.value)
    torch.save({"model": {}}, path)  # a weights file, but not a checkpoint
    with pytest.raises(ConfigError, match="cannot resume from this checkpoint"):
        _restore(path, model, torch.optim.SGD(model.parameters(), lr=0.1), None, torch.device("cpu"))
