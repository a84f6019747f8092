"""augsearch train and compare: held-out data, the training recipe, resume, the arithmetic of the
verdict against scipy, the controls, and a harmful policy that must come out worse than none."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
import torch
from conftest import write_two_tone_folder

import augsearch
from augsearch import AugMix, CutMix, Mixup, Policy
from augsearch import trainer as trainer_module
from augsearch.bases import random_crop_flip
from augsearch.cli import main
from augsearch.data import load_dataset, load_train_test
from augsearch.errors import AugsearchError, ConfigError
from augsearch.models import build_model
from augsearch.pipeline import pipeline
from augsearch.proof import compare as compare_module
from augsearch.proof import stats
from augsearch.proof import train as train_module
from augsearch.proof.compare import CompareWork
from augsearch.search.config import resolve as resolve_run
from augsearch.search.run import search
from augsearch.search.spaces import FAST_AA_OPS
from augsearch.trainer import Recipe, fit

# ----------------------------------------------------------------------------- the arithmetic


@pytest.mark.parametrize("values", [[0.71, 0.74, 0.69], [0.5, 0.52, 0.49, 0.55, 0.51], [0.9, 0.9001]])
def test_interval_is_scipys_student_t(values):
    got = stats.estimate(values)
    low, high = scipy.stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy.stats.sem(values))
    assert got.mean == pytest.approx(np.mean(values)) and got.std == pytest.approx(np.std(values, ddof=1))
    assert (got.low, got.high) == pytest.approx((low, high))


def test_paired_difference_is_scipys_paired_t():
    treated = {0: 0.73, 1: 0.74, 2: 0.71, 3: 0.73}
    control = {0: 0.70, 1: 0.70, 2: 0.68, 3: 0.69, 9: 0.1}  # seed 9 has no partner: left out
    got = stats.paired(treated, control)
    reference = scipy.stats.ttest_rel(list(treated.values()), [control[s] for s in treated]).confidence_interval(0.95)
    assert got.n == 4 and (got.low, got.high) == pytest.approx((reference.low, reference.high))
    assert stats.verdict(got) == stats.BETTER


def test_verdict_comes_from_the_interval_not_the_mean():
    assert stats.verdict(stats.estimate([-0.03, -0.02, -0.04])) == stats.WORSE
    assert stats.verdict(stats.estimate([0.05, -0.01, 0.02])) == stats.UNCLEAR  # mean > 0, interval spans 0
    assert stats.verdict(stats.estimate([0.2])) == stats.UNCLEAR  # one seed: no interval
    assert stats.estimate([0.2]).low is None
    with pytest.raises(ValueError):
        stats.estimate([])


# ----------------------------------------------------------------------------- training


def test_fit_resumes_to_the_same_weights(tmp_path):
    data = load_dataset("digits", subset=256)
    recipe = Recipe(3, batch_size=64, lr=0.05, warmup_epochs=1, ema_decay=0.9)
    augment = random_crop_flip(padding=2)

    def model():
        return build_model("small-cnn", num_classes=10, image_size=16, seed=0)

    whole = model()
    expected = fit(whole, data, recipe, seed=4, augment=augment, checkpoint=tmp_path / "a.pt")

    def stop_after_two(metrics):
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt

    interrupted = model()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, data, recipe, seed=4, augment=augment, checkpoint=tmp_path / "b.pt", on_epoch=stop_after_two)
    resumed = model()
    again = fit(resumed, data, recipe, seed=4, augment=augment, checkpoint=tmp_path / "b.pt")
    assert [h["epoch"] for h in again.history] == [1, 2, 3]
    assert [h["loss"] for h in again.history] == [h["loss"] for h in expected.history]
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert all(torch.equal(a, b) for a, b in zip(expected.ema.state_dict().values(), again.ema.state_dict().values()))


def test_warmup_then_cosine():
    recipe = Recipe(4, lr=0.2, warmup_epochs=1)
    rates = [recipe.lr_at(step, 40, 10) for step in range(40)]
    assert rates[0] == pytest.approx(0.02) and rates[9] == pytest.approx(0.2)
    assert rates[10] == pytest.approx(0.2) and rates[-1] < 0.001 and all(a >= b for a, b in zip(rates[9:], rates[10:]))
    with pytest.raises(ConfigError, match="warmup_epochs"):
        Recipe(2, warmup_epochs=3)


def test_mixing_and_jsd_pipelines_train():
    data = load_dataset("digits", subset=128)
    for policy in (Mixup(0.4, num_classes=10), CutMix(num_classes=10), AugMix(jsd=True, width=2)):
        augment, mix, views = pipeline(policy, random_crop_flip(), num_classes=10)
        net = build_model("small-cnn", num_classes=10, image_size=16, seed=0)
        history = fit(net, data, Recipe(1, batch_size=32), augment=augment, mix=mix, views=views).history
        assert np.isfinite(history[0]["loss"])
    with pytest.raises(ConfigError, match="for 5 classes, the data has 10"):
        pipeline(Mixup(num_classes=5), None, num_classes=10)


def test_train_api_and_run_directory(tmp_path):
    out = tmp_path / "t"
    metrics = augsearch.train("trivial", dataset="digits", epochs=2, out=str(out), seed=1)
    assert 0 <= metrics["top1"] <= 1 and metrics["holdout"] == {"kind": "test split", "dataset": "digits"}
    assert metrics["test_size"] == 359 and metrics["train_size"] == 1438 and metrics["base"] == "crop-flip"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert (out / "weights.pt").exists() and not (out / "checkpoint.pt").exists()
    assert augsearch.load_policy(out / "policy.yaml") == augsearch.load_policy("trivial")
    with pytest.raises(ConfigError, match="already holds a training run"):
        augsearch.train("trivial", dataset="digits", epochs=2, out=str(out))
    assert augsearch.train(out=str(out), resume=True) == metrics  # a finished run is read back
    invert = Policy([[("Invert", 0.5, None)]])
    policy_object = augsearch.train(invert, epochs=1, out=str(tmp_path / "o"))
    assert policy_object["policy_kind"] == "policy"
    assert sorted(p.name for p in (tmp_path / "o").glob("*.yaml")) == ["config.yaml", "policy.yaml"]  # written once
    assert augsearch.load_policy(tmp_path / "o" / "policy.yaml") == invert
    assert policy_object["policy"] == str(tmp_path / "o" / "policy.yaml")  # the record names itself


def test_a_resumed_training_keeps_the_policy_it_started_with(tmp_path, monkeypatch):
    source = Policy([[("Invert", 1.0, None)]]).save(tmp_path / "mine.yaml")
    out = tmp_path / "t"
    real = trainer_module.fit

    def crash_after_one_epoch(*args, **kwargs):
        kwargs["on_epoch"] = lambda metrics: (_ for _ in ()).throw(KeyboardInterrupt())
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "fit", crash_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        augsearch.train(str(source), dataset="digits", subset=200, epochs=2, out=str(out))
    monkeypatch.setattr(train_module, "fit", real)
    Policy([[("Solarize", 1.0, 5)]]).save(source)  # the user edits the file meanwhile
    used = []
    monkeypatch.setattr(train_module, "pipeline", lambda policy, *a, **k: used.append(policy) or pipeline(policy, *a,
                                                                                                          **k))
    metrics = augsearch.train(out=str(out), resume=True)
    assert used == [Policy([[("Invert", 1.0, None)]])]  # trained on with the policy it started with
    assert augsearch.load_policy(out / "policy.yaml") == used[0]
    assert metrics["epochs"] == 2 and len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_folder_holds_out_a_stratified_recorded_part(tmp_path):
    folder = write_two_tone_folder(tmp_path / "data", n=60)
    parts = load_train_test(f"folder:{folder}", val_fraction=0.25, seed=3)
    assert len(parts.test) == 30 and len(parts.train) == 90
    assert (parts.test.labels == 0).sum() == 15
    held = parts.holdout["test_indices"]
    assert parts.holdout["kind"] == "val fraction" and len(set(held)) == 30
    again = load_train_test(f"folder:{folder}", val_fraction=0.25, seed=3)
    assert again.holdout == parts.holdout and torch.equal(again.test.images, parts.test.images)


def test_train_cli_one_line_errors(tmp_path, capsys):
    for args, message in ((["nope-policy"], "unknown policy spec"), (["trivial", "--epochs", "0"], "epochs"),
                          (["trivial", "--base", "rotate"], "unknown base augmentation 'rotate'"),
                          (["trivial", "--val", "folder:/no/such"], "/no/such")):
        assert main(["train", *args, "--out", str(tmp_path / "x"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


# ----------------------------------------------------------------------------- compare


def test_compare_resume_redoes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "c"
    args = ["compare", "trivial", "--controls", "none,randaugment", "--epochs", "1", "--seeds", "2",
            "--engine", "local", "--out", str(out), "--quiet"]
    calls = []
    real = CompareWork.__call__

    def stop_on_fourth(self, k, device):
        calls.append(k)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(self, k, device)

    monkeypatch.setattr(CompareWork, "__call__", stop_on_fourth)
    assert main(args) == 130
    assert "3 of 6 jobs are done" in capsys.readouterr().err
    calls.clear()
    assert main(["compare", "--resume", str(out), "--quiet"]) == 0
    assert len(calls) == 3  # only the jobs without a result
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["seed"]) for r in results) == [(a, s) for a in range(3) for s in (0, 1)]
    summary = json.loads((out / "compare.json").read_text())
    assert [p["name"] for p in summary["policies"]] == ["trivial", "none", "randaugment"]
    assert {d["versus"] for d in summary["differences"]} == {"none", "randaugment"}
    assert (out / "compare.md").exists() and (out / "compare.png").exists()
    (out / "results.jsonl").write_text((out / "results.jsonl").read_text() + '{"arm": "x"}\n')
    assert main(["compare", "--resume", str(out), "--quiet"]) == 2
    assert "results.jsonl:7: corrupt result" in capsys.readouterr().err


def test_a_diverged_job_is_named_and_a_comparison_without_arms_says_how_to_go_on(tmp_path, capsys):
    out = tmp_path / "c"
    args = ["compare", "trivial", "--controls", "none", "--epochs", "1", "--warmup-epochs", "0", "--seeds", "1",
            "--subset", "100", "--batch-size", "8", "--lr", "1e37", "--engine", "local", "--out", str(out), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    # before: "training diverged ...; lower the learning rate", with no job named, while --resume refuses --lr
    assert "job arm0-s0 (trivial, seed 0): training diverged" in err and "another --out" in err, err
    assert len(err.strip().splitlines()) == 1
    (out / "arms.json").unlink()  # as a crash between the files left it (now arms.json is written first)
    assert main(["compare", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "arms.json: edited since this job started (it is gone); put it back, or start anew with another --out" in err
    (out / "sealed.json").unlink()  # as a comparison begun before the seal
    assert main(["compare", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "arms.json: missing, so this comparison cannot continue; start it again with another --out" in err, err


def test_a_harmful_policy_is_worse_than_none(tmp_path):
    folder = write_two_tone_folder(tmp_path / "data", n=60)
    invert = Policy([[("Invert", 1.0, None)]]).save(tmp_path / "invert.yaml")
    cfg = compare_module.resolve(overrides=dict(
        policies=(str(invert),), controls=("none",), dataset=f"folder:{folder}", val_fraction=0.25, epochs=3,
        batch_size=16, base="none", seeds=3, engine="local", out=str(tmp_path / "c")))
    summary = compare_module.compare(cfg)
    (versus_none,) = summary["differences"]
    assert versus_none["versus"] == "none" and versus_none["verdict"] == stats.WORSE, summary
    assert summary["holdout"]["kind"] == "val fraction" and summary["test_size"] == 30
    assert any("no augmentation policy beats none" in w for w in summary["warnings"]), summary["warnings"]
    assert "**Warning:** no augmentation policy beats none" in (tmp_path / "c" / "compare.md").read_text()


def _results(top1: dict[int, list[float]], train_acc: dict[int, float]) -> list[dict]:
    return [{"arm": arm, "seed": seed, "top1": value, "train_acc": train_acc[arm]}
            for arm, values in top1.items() for seed, value in enumerate(values)]


REGIME_ARMS = [compare_module.Arm("found", "found.yaml", "tested"), compare_module.Arm("none", "none", "control"),
               compare_module.Arm("trivial", "trivial", "control")]


def test_compare_says_when_augmentation_does_not_pay_at_its_budget():
    # trivial beats none on every seed by about 2 points and the model fits its data: the regime is right
    pays = compare_module.summarize(REGIME_ARMS, _results(
        {0: [0.74, 0.75, 0.76], 1: [0.72, 0.73, 0.735], 2: [0.741, 0.752, 0.757]}, {0: 0.9, 1: 0.995, 2: 0.8}),
        [0, 1, 2])
    assert pays["warnings"] == []
    # none is best: no policy beats it, whatever the tested policy does against the other controls
    short = compare_module.summarize(REGIME_ARMS, _results(
        {0: [0.60, 0.61, 0.62], 1: [0.612, 0.605, 0.63], 2: [0.58, 0.59, 0.60]}, {0: 0.97, 1: 0.99, 2: 0.97}),
        [0, 1, 2], budget="this budget (small-cnn, 30 epochs)")
    (warning,) = short["warnings"]
    assert ("no augmentation policy beats none (the base augmentation alone) at this budget (small-cnn, 30 "
            "epochs)") in warning
    assert "--epochs" in warning and "--model" in warning
    # a model that cannot fit even without augmentation: its verdicts say little either
    underfit = compare_module.summarize(REGIME_ARMS, _results(
        {0: [0.74, 0.75, 0.76], 1: [0.72, 0.73, 0.735], 2: [0.741, 0.752, 0.757]}, {0: 0.6, 1: 0.78, 2: 0.55}),
        [0, 1, 2])
    (warning,) = underfit["warnings"]
    assert "underfits" in warning and "78.0 %" in warning and "with none" in warning
    # without a none arm, the best-fitting policy stands for the model
    no_none = [REGIME_ARMS[0], REGIME_ARMS[2]]
    fits = compare_module.summarize(no_none, _results({0: [0.7, 0.7], 1: [0.6, 0.6]}, {0: 0.99, 1: 0.5}), [0, 1])
    assert fits["warnings"][1:] == [] and fits["policies"][0]["train_acc"] == 0.99  # [0]: 2 seeds decide nothing


def test_few_seeds_are_said_to_decide_nothing_with_the_seeds_the_spread_needs():
    arms = REGIME_ARMS[:2]
    two = compare_module.summarize(arms, _results({0: [0.70, 0.74], 1: [0.69, 0.71]}, {0: 0.99, 1: 0.99}), [0, 1])
    (diff,) = two["differences"]
    assert diff["verdict"] == stats.UNCLEAR and diff["std"] == pytest.approx(0.01 * 2 ** 0.5)
    warning = two["warnings"][0]
    # the spread of the paired differences is 1.41 points: t(n-1) * 1.41 / sqrt(n) < 1 first at n = 11
    assert warning.startswith("2 seeds give intervals too wide to decide anything") and "(--seeds 11)" in warning
    assert diff["seeds_needed"] == 5  # the observed 2-point difference, at that spread
    one = compare_module.summarize(arms, _results({0: [0.7], 1: [0.6]}, {0: 0.99, 1: 0.99}), [0])
    assert one["warnings"][0] == "one seed gives no interval, so no verdict: run --seeds 3 or more"
    three = compare_module.summarize(arms, _results({0: [0.70, 0.74, 0.72], 1: [0.69, 0.71, 0.73]},
                                                    {0: 0.99, 1: 0.99}), [0, 1, 2])
    assert not any("seed" in w for w in three["warnings"]) and three["differences"][0]["seeds_needed"] > 3
    clear = compare_module.summarize(arms, _results({0: [0.74, 0.75, 0.76], 1: [0.72, 0.73, 0.735]},
                                                    {0: 0.99, 1: 0.99}), [0, 1, 2])
    assert clear["differences"][0]["verdict"] == stats.BETTER and clear["differences"][0]["seeds_needed"] is None
    for n, std, diff in ((11, 0.0141, 0.01), (5, 0.0141, 0.02), (3, 0.003, 0.01)):
        assert stats.seeds_needed(std, diff) == n
        half = scipy.stats.t.ppf(0.975, n - 1) * std / n ** 0.5
        assert half < diff <= scipy.stats.t.ppf(0.975, n - 2) * std / (n - 1) ** 0.5


def test_file_names_in_the_tables_stay_in_their_cells():
    arms = [compare_module.Arm("a|b <i>x</i>.yaml", "a.yaml", "tested"), compare_module.Arm("none", "none", "control")]
    summary = compare_module.summarize(arms, _results({0: [0.7, 0.71, 0.72], 1: [0.6, 0.62, 0.61]},
                                                      {0: 0.99, 1: 0.99}), [0, 1, 2])
    summary |= {"test_size": 30, "holdout": {"kind": "val"}, "model": "m", "epochs": 1, "base": "none",
                "seeds": [0, 1, 2]}
    text = compare_module.markdown(summary)
    row = next(line for line in text.splitlines() if line.startswith("| a"))
    # before: the | split the row into one cell more, and <i> became raw HTML
    assert row.startswith("| a\\|b &lt;i&gt;x&lt;/i&gt;.yaml | tested |") and row.count(" | ") == 6, row
    assert "<i>" not in text and "Paired difference of a\\|b &lt;i&gt;" in text


def test_compare_run_dir_uses_the_search_and_a_random_control_of_its_shape(tmp_path, capsys):
    cfg = resolve_run(overrides=dict(dataset="digits", subset=300, epochs=1, batch_size=64, folds=1, trials=3,
                                     top_n=1, startup_trials=2, num_sub_policies=3, num_ops=2, draws=1,
                                     engine="local", out=str(tmp_path / "run")))
    run = search(cfg, quiet=True)
    assert main(["compare", str(run.path), "--epochs", "1", "--seeds", "2", "--engine", "local",
                 "--controls", "none,random,published", "--quiet"]) == 0
    summary = json.loads((run.path / "compare" / "compare.json").read_text())
    assert summary["run_dir"] == str(run.path) and summary["holdout"]["kind"] == "test split"
    assert summary["train_size"] == 300  # the search's own data (its subset), not all of digits
    searched = augsearch.load_policy(run.policy_file)
    random = augsearch.load_policy(run.path / "compare" / "policies" / "random.yaml")
    assert isinstance(random, Policy) and random.convention.name == "fast-aa" and len(random) == len(searched)
    assert [len(sp.ops) for sp in random.sub_policies] == [len(sp.ops) for sp in searched.sub_policies]
    assert {op.name for sp in random.sub_policies for op in sp.ops} <= set(FAST_AA_OPS)
    assert "seed 0" in random.source and random != searched
    names = [p["name"] for p in summary["policies"]]
    assert names == ["searched", "none", "random", "published (fast-aa/reduced-cifar10)"]
    assert main(["report", str(run.path)]) == 0
    assert "Held-out comparison" in (run.path / "report.html").read_text()


def test_compare_refuses_bad_input_in_one_line(tmp_path, capsys):
    cases = ((["trivial", "--controls", "none,nope"], "unknown control 'nope'"), (["trivial", "--seeds", "0"], "seeds"),
             ([], "name the policies to compare"), ([str(tmp_path)], "no search's run directory"))
    for args, message in cases:
        assert main(["compare", *args, "--engine", "local", "--out", str(tmp_path / "c"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("space: fast-aa\n")
    assert main(["compare", str(tmp_path / "run"), "--quiet"]) == 2
    assert "policy.yaml: missing" in capsys.readouterr().err


def test_run_compare_flag_needs_valid_numbers():
    with pytest.raises(AugsearchError, match="seeds"):
        resolve_run(overrides={"compare": True, "seeds": 0})


def test_compare_runs_its_jobs_on_ray(tmp_path):
    pytest.importorskip("ray")
    cfg = compare_module.resolve(overrides=dict(policies=("trivial",), controls=("none",), epochs=1, seeds=1,
                                                engine="ray", cpus_per_trial=1.0, out=str(tmp_path / "c")))
    summary = compare_module.compare(cfg)
    assert [p["n"] for p in summary["policies"]] == [1, 1]
    assert (tmp_path / "c" / "jobs" / "arm0-s0" / "metrics.json").exists()


def test_a_remote_job_sends_its_files_and_result_to_the_driver(tmp_path):
    cfg = compare_module.resolve(overrides=dict(policies=("trivial",), controls=("none",), epochs=1, seeds=1,
                                                engine="local", out=str(tmp_path / "c")))
    folder = compare_module.CompareDir(cfg.out)
    arms, _ = compare_module.make_arms(cfg, folder, None, None)
    data = compare_module.load_data(cfg)
    work = CompareWork(((0, 0),), tuple(arms), cfg, data, str(folder.path), 1)
    sent: list[tuple] = []

    class Channel:
        def put(self, item):
            sent.append(item)

    work.remote(Channel())(0, torch.device("cpu"))
    assert not (folder.path / "jobs").exists() and not folder.results_file.exists()  # the job wrote nothing here
    for item in sent:
        work.record(item)
    assert json.loads(folder.results_file.read_text())["arm"] == 0
    assert (folder.job_dir(0, 0) / "metrics.json").exists() and (folder.job_dir(0, 0) / "weights.pt").exists()
    for bad in (("file", "jobs/arm0-s0/../../x", b""), ("file", "elsewhere/x", b""), ("nope",)):
        with pytest.raises(ValueError, match="unknown record"):
            work.record(bad)


def test_a_preset_sets_the_training_and_flags_or_files_override_it(tmp_path, capsys):
    from augsearch.proof.train import resolve as resolve_train

    cfg = resolve_train(overrides={"preset": "resnet20-160"})
    assert (cfg.model, cfg.epochs, cfg.lr, cfg.precision) == ("resnet20", 160, 0.1, "bf16")
    assert resolve_train(overrides={"preset": "resnet20-160", "epochs": 3, "precision": "fp32"}).epochs == 3
    config = tmp_path / "c.yaml"
    config.write_text("preset: resnet20-160\nlr: 0.05\n")
    from_file = resolve_train(file=config, overrides={"model": "small-cnn"})
    assert (from_file.model, from_file.epochs, from_file.lr) == ("small-cnn", 160, 0.05)
    assert main(["train", "--preset", "resnet21-160", "--epochs", "1"]) == 2
    assert "unknown preset 'resnet21-160'; known: resnet20-160" in capsys.readouterr().err
    assert main(["train", "--precision", "fp16", "--epochs", "1"]) == 2
    assert "unknown precision 'fp16'; known: auto, fp32, bf16" in capsys.readouterr().err


def test_bf16_trains_on_the_cpu(tmp_path):
    metrics = augsearch.train("trivial", dataset="digits", subset=200, epochs=2, precision="bf16",
                              out=str(tmp_path / "b"))
    assert 0 <= metrics["top1"] <= 1 and metrics["train_acc"] > 0


def test_run_compare_interrupted_in_the_search_compares_on_resume(tmp_path, monkeypatch, capsys):
    from augsearch.search import runners

    out = tmp_path / "run"
    args = ["run", "--dataset", "digits", "--subset", "300", "--epochs", "1", "--trials", "3", "--startup-trials",
            "2", "--draws", "1", "--folds", "1", "--engine", "local", "--compare", "--compare-epochs", "1",
            "--seeds", "1", "--no-report", "--quiet", "--out", str(out)]
    real = runners.evaluate_trial
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(runners, "evaluate_trial", interrupted)
    assert main(args) == 130 and not (out / "compare").exists()
    monkeypatch.setattr(runners, "evaluate_trial", real)
    assert main(["run", "--resume", str(out), "--quiet", "--no-report"]) == 0
    summary = json.loads((out / "compare" / "compare.json").read_text())  # the run's own --compare, kept
    assert summary["epochs"] == 1 and summary["seeds"] == [0] and summary["tested"] == "searched"
