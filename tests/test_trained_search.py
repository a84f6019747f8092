"""Searches that train their candidates: the train-evaluate objective, successive halving (ASHA)
in-process and on Ray Tune, the randaugment/trivial/augmix/mix spaces end to end with resume,
and ``kind: recipe``, which the mix space finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import augsearch
from augsearch.cli import main
from augsearch.errors import ConfigError, PolicyError
from augsearch.files import from_config
from augsearch.recipe import AugmentationRecipe
from augsearch.search.config import resolve
from augsearch.search.run import search
from augsearch.search.rundir import RunDir, Trial
from augsearch.search.spaces import SPACES
from augsearch.search.trained import Halving, epoch_key

TINY = dict(dataset="digits", subset=300, epochs=3, batch_size=64, folds=1, trials=4, top_n=1, startup_trials=2,
            engine="local", base="none")


def tiny(tmp_path: Path, **changes):
    return resolve(overrides={**TINY, "out": str(tmp_path / "run"), **changes})


# ----------------------------------------------------------------------------- successive halving

def test_halving_rungs_follow_grace_and_reduction():
    assert sorted(Halving(9, 1, 3).rungs) == [1, 3]
    assert sorted(Halving(30, 2, 2).rungs) == [2, 4, 8, 16]
    assert Halving(1, 1, 3).rungs == {}
    with pytest.raises(ConfigError, match="reduction >= 2"):
        Halving(9, 1, 1.5)


def test_halving_stops_below_the_rung_quantile_and_keeps_the_first():
    h = Halving(9, 1, 3)
    assert h.report(1, {"score": 0.5}) is False  # nothing recorded yet: never stopped
    assert h.report(2, {"score": 0.0}) is False  # not a rung
    assert h.report(1, {"score": 0.4}) is True  # below the only score recorded
    assert h.report(1, {"score": 0.9}) is False
    # recorded at rung 1: 0.5, 0.4, 0.9; the 2/3 quantile is 0.5 + (0.9 - 0.5) * (4/3 - 1) = 0.6333
    assert h.report(1, {"score": 0.62}) is True
    assert h.report(1, {"score": 0.64}) is False


def test_halving_replays_recorded_trials():
    trial = Trial(0, 0, 0, {}, {"augsearch": 1, "kind": "trivialaugment"}, 0.7,
                  metrics={epoch_key(1): 0.6, epoch_key(2): 0.65, epoch_key(3): 0.7})
    failed = Trial(0, 0, 1, {}, None, None, error="boom", metrics={})
    h = Halving(9, 1, 3).replay([trial, failed])
    assert h.rungs == {1: [0.6], 3: [0.7]}
    assert h.report(1, {"score": 0.5}) is True


# ----------------------------------------------------------------------------- every space, end to end

@pytest.mark.parametrize(("space", "kind"), [("randaugment", "randaugment"), ("trivial", "trivialaugment"),
                                             ("augmix", "augmix"), ("mix", "recipe")])
def test_each_space_runs_end_to_end_in_process(tmp_path, space, kind):
    cfg = tiny(tmp_path, space=space)
    assert cfg.objective == "train-evaluate" and cfg.score == "accuracy"
    run = search(cfg, quiet=True)
    policy = augsearch.load_policy(str(run.policy_file))
    assert policy.kind == kind
    trials = run.trials()
    assert len(trials) == (1 if space == "trivial" else 4) and all(t.ok for t in trials)
    for t in trials:
        assert 1 <= t.metrics["epochs"] <= 3 and t.metrics[epoch_key(1)] <= 1.0
        assert t.score == t.metrics[epoch_key(int(t.metrics["epochs"]))]
    summary = json.loads(run.summary_file.read_text())
    assert summary["objective"] == "train-evaluate" and summary["final_kind"] == kind


def test_asha_stops_weak_candidates_early_and_the_log_says_so(tmp_path, capsys):
    out = tmp_path / "ra"
    code = main(["run", "--space", "randaugment", "--dataset", "digits", "--subset", "400", "--epochs", "4",
                 "--trials", "8", "--top-n", "1", "--folds", "1", "--engine", "local", "--base", "none",
                 "--out", str(out), "--no-report"])
    assert code == 0
    trials = RunDir(out).trials()
    stopped = [t for t in trials if t.metrics["stopped_early"]]
    finished = [t for t in trials if not t.metrics["stopped_early"]]
    assert stopped and finished
    assert all(t.metrics["epochs"] < 4 for t in stopped) and all(t.metrics["epochs"] == 4 for t in finished)
    assert f"stopped early {len(stopped)}" in capsys.readouterr().err
    assert json.loads(RunDir(out).summary_file.read_text())["stopped_early"] == len(stopped)


def test_a_resumed_trained_search_fills_the_gaps_and_redoes_nothing(tmp_path):
    cfg = tiny(tmp_path, space="augmix")
    run = search(cfg, quiet=True)
    lines = run.trials_file.read_text().splitlines(keepends=True)
    kept_lines = [lines[0], lines[2]]
    run.trials_file.write_text("".join(kept_lines))
    search(cfg, resume=True, quiet=True)
    trials = run.trials()
    assert sorted(t.trial for t in trials) == [0, 1, 2, 3]
    assert [t.to_json() for t in trials[:2]] == [line.strip() for line in kept_lines]


def test_density_matching_cannot_score_a_recipe(tmp_path):
    cfg = tiny(tmp_path, space="mix", objective="density-matching", score="best-of-k")
    with pytest.raises(ConfigError, match="every trial failed"):
        search(cfg, quiet=True)
    assert "density matching scores per-image policies, not recipe" in RunDir(cfg.out).trials()[0].error


def test_train_evaluate_refuses_best_of_k(tmp_path):
    with pytest.raises(augsearch.AugsearchError, match="accuracy or loss"):
        search(tiny(tmp_path, space="randaugment", score="best-of-k"), quiet=True)


def test_spaces_lists_every_space_with_its_objective(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in ("fast-aa", "autoaugment", "randaugment", "trivial", "augmix", "mix"):
        assert name in SPACES.names() and f"\n{name}" in f"\n{out}"
    assert "(objective: train-evaluate)" in out and "(objective: density-matching)" in out


KINDS = {"randaugment": "randaugment", "trivial": "trivialaugment", "augmix": "augmix", "mix": "recipe"}


@pytest.mark.parametrize("space", list(KINDS))
def test_each_candidate_is_a_tune_trial_on_the_ray_engine_with_resume(tmp_path, space):
    cfg = tiny(tmp_path, space=space, engine="ray", trials=3 if space != "augmix" else 2, epochs=2)
    run = search(cfg, quiet=True)
    trials = run.trials()
    count = 1 if space == "trivial" else cfg.trials
    assert sorted(t.trial for t in trials) == list(range(count)) and all(t.ok for t in trials)
    assert (run.path / "ray" / "split0-repeat0").is_dir()  # Tune's own experiment, one per search
    run.trials_file.write_text(run.trials_file.read_text().splitlines(keepends=True)[0] if count > 1 else "")
    search(cfg, resume=True, quiet=True)
    assert sorted(t.trial for t in run.trials()) == list(range(count))
    assert augsearch.load_policy(str(run.policy_file)).kind == KINDS[space]


def test_pba_on_ray_runs_the_population_under_tunes_population_based_training(tmp_path):
    cfg = tiny(tmp_path, space="pba", engine="ray", trials=4, epochs=2, interval=1)
    run = search(cfg, quiet=True)
    trials = run.trials()
    assert sorted(t.trial for t in trials) == [0, 1, 2, 3] and all(t.ok for t in trials)
    assert sum(t.metrics["exploits"] for t in trials) >= 1  # the worst quarter copied the best at epoch 1
    copied = [t.policy() for t in trials if t.metrics["exploits"]]
    assert all([p.start for p in schedule.phases] == [0, 1] for schedule in copied)
    events = [json.loads(line) for line in (run.path / "ray" / "population-split0-repeat0" / "pbt_global.txt")
              .read_text().splitlines()]
    assert events and all(target_epoch < 2 for _, _, target_epoch, *_ in events)  # none into a finished member
    assert augsearch.load_policy(str(run.policy_file)).kind == "schedule"
    run.trials_file.write_text(run.trials_file.read_text().splitlines(keepends=True)[0])  # a crash lost three
    search(cfg, resume=True, quiet=True)  # on Ray the population trains again whole; only the lost are recorded
    assert sorted(t.trial for t in run.trials()) == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- kind: recipe

RECIPE = {"augsearch": 1, "kind": "recipe", "policy": {"kind": "randaugment", "n": 1, "m": 5},
          "base": "flip", "cutout": {"size": 4, "holes": 2}, "mix": {"alpha": 0.4, "cutmix_alpha": 1.0},
          "label_smoothing": 0.1}


def test_a_recipe_round_trips_and_augments_images_and_batches(tmp_path):
    recipe = from_config(RECIPE)
    assert isinstance(recipe, AugmentationRecipe)
    assert augsearch.load_policy(str(recipe.save(tmp_path / "r.yaml"))) == recipe
    assert augsearch.load_policy(str(recipe.save(tmp_path / "r.json"))) == recipe
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    assert recipe.image(images, generator=g).shape == images.shape
    assert recipe(images[0]).shape == images[0].shape
    from PIL import Image
    pil = Image.fromarray(images[0].permute(1, 2, 0).numpy())
    assert recipe.image(pil).size == (16, 16)
    mixed, targets = recipe.batch(images, torch.arange(6) % 3, num_classes=3, generator=g)
    assert mixed.dtype == torch.uint8 and targets.shape == (6, 3)
    assert torch.allclose(targets.sum(1), torch.ones(6))
    smooth = from_config({"augsearch": 1, "kind": "recipe", "label_smoothing": 0.3})
    _, soft = smooth.batch(images, torch.zeros(6, dtype=torch.long), num_classes=3)
    assert torch.allclose(soft[0], torch.tensor([0.8, 0.1, 0.1]))


def test_the_same_generator_gives_the_same_recipe_images():
    recipe = from_config(RECIPE)
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    first = recipe.image(images, generator=torch.Generator().manual_seed(5))
    second = recipe.image(images, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, second)


@pytest.mark.parametrize(("change", "place"), [
    ({"mix": {"alpha": -1}}, "mix.alpha"), ({"mix": {"beta": 1}}, "mix.beta"), ({"mix": {"mode": "x"}}, "mix.mode"),
    ({"mix": [1]}, "mix"), ({"cutout": {"size": "big"}}, "cutout.size"), ({"cutout": {"side": 3}}, "cutout.side"),
    ({"policy": {"kind": "mixup", "num_classes": 3}}, "policy.kind"), ({"policy": {"kind": "nope"}}, "policy.kind"),
    ({"policy": {"kind": "augmix", "jsd": True}}, "policy.jsd"), ({"policy": {"kind": "randaugment", "n": -1}},
                                                                   "policy.n"),
    ({"policy": "randaugment"}, "policy"), ({"base": "crops"}, "base"), ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"num_classes": 1}, "num_classes"), ({"colour": 1}, "colour"),
])
def test_bad_recipes_are_one_line_errors_naming_the_field(change, place):
    with pytest.raises(PolicyError) as err:
        from_config({"augsearch": 1, "kind": "recipe", **change}, file="r.yaml")
    assert f"r.yaml: {place}" in str(err.value) and "\n" not in str(err.value)


def test_a_recipe_without_classes_says_so():
    with pytest.raises(PolicyError, match="num_classes"):
        from_config(RECIPE).batch(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))


def test_augsearch_train_takes_a_recipe(tmp_path):
    path = from_config(RECIPE).save(tmp_path / "recipe.yaml")
    metrics = augsearch.train(str(path), dataset="digits", subset=200, epochs=1, batch_size=32,
                              out=str(tmp_path / "train"))
    assert metrics["policy_kind"] == "recipe" and 0 <= metrics["top1"] <= 1


# ----------------------------------------------------------------------------- PBA

def test_pba_trains_a_population_and_finds_a_schedule(tmp_path):
    cfg = tiny(tmp_path, space="pba", trials=4, epochs=4, interval=2)
    run = search(cfg, quiet=True)
    schedule = augsearch.load_policy(str(run.policy_file))
    assert schedule.kind == "schedule" and schedule.epochs == 4
    assert schedule.phases[0].start == 0 and set(schedule.phases[0].policy) == {0}  # PBA starts from no augmentation
    assert all(p.start in (0, 2) for p in schedule.phases)  # changes only at exploit/explore rounds
    trials = run.trials()
    assert sorted(t.trial for t in trials) == [0, 1, 2, 3]
    best = max(trials, key=lambda t: (t.score, -t.trial))
    assert augsearch.load_policy(str(run.policy_file)) == best.policy()
    state = json.loads((run.path / "population" / "split0-repeat0.json").read_text())
    assert state["epoch"] == 4 and len(state["events"]) == 1  # one round at epoch 2 (none at the end), a quarter of 4
    target, clone, epoch, _, old, new = state["events"][0]
    assert target != clone and epoch == 2 and len(old) == len(new) == 60


def test_explore_moves_values_within_range():
    from augsearch.draws import Draws
    from augsearch.search.population import explore
    draws = Draws(torch.Generator().manual_seed(0))
    vectors = [explore((5,) * 60, draws) for _ in range(50)]
    values = [v for vector in vectors for v in vector]
    assert min(values) >= 0 and max(values) <= 10
    moved = [abs(v - 5) for v in values]
    assert 0.6 < sum(m <= 3 for m in moved) / len(moved) < 1.0  # mostly shifted by 0..3, sometimes redrawn
    assert explore((10,) * 60, draws) != (10,) * 60


def test_an_interrupted_population_resumes_from_its_last_round(tmp_path, monkeypatch):
    from augsearch.search import population
    calls = []
    real = population.train_one_epoch

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7 and not resuming:  # inside the second round of 4 members
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    resuming = False
    monkeypatch.setattr(population, "train_one_epoch", counted)
    cfg = tiny(tmp_path, space="pba", trials=4, epochs=3, interval=1)
    with pytest.raises(KeyboardInterrupt):
        search(cfg, quiet=True)
    state = json.loads((Path(cfg.out) / "population" / "split0-repeat0.json").read_text())
    assert state["epoch"] == 1 and RunDir(cfg.out).trials() == []
    calls.clear()
    resuming = True
    search(cfg, resume=True, quiet=True)
    assert len(calls) == 8  # rounds 2 and 3 only
    assert sorted(t.trial for t in RunDir(cfg.out).trials()) == [0, 1, 2, 3]


def test_a_crash_while_a_round_writes_its_weights_leaves_the_last_round_whole(tmp_path, monkeypatch):
    from augsearch.search import population
    written: dict[str, bytes] = {}
    real = RunDir.write_bytes

    def crashing(self, name, data):
        if "-member" in name:
            if len(written) == 4 + 2 and name not in written:  # round 2, its third member's weights
                raise KeyboardInterrupt
            written.setdefault(name, data)
        real(self, name, data)

    monkeypatch.setattr(RunDir, "write_bytes", crashing)
    cfg = tiny(tmp_path, space="pba", trials=4, epochs=3, interval=1)
    with pytest.raises(KeyboardInterrupt):
        search(cfg, quiet=True)
    folder = Path(cfg.out) / "population"
    state = json.loads((folder / "split0-repeat0.json").read_text())
    assert state["epoch"] == 1 and state["slot"] == population.SLOTS[0]
    for i in range(4):  # the weights round 1's state names are still round 1's (before: overwritten by round 2)
        name = population.member_name(0, 0, i, state["slot"])
        assert (Path(cfg.out) / name).read_bytes() == written[name]
    monkeypatch.setattr(RunDir, "write_bytes", real)
    lost = Path(cfg.out) / population.member_name(0, 0, 2, state["slot"])
    lost.unlink()  # by hand: the state names weights that are gone
    with pytest.raises(ConfigError, match=r"member2\.pt: missing, although .* names it"):
        search(cfg, resume=True, quiet=True)
    lost.write_bytes(written[population.member_name(0, 0, 2, state["slot"])])
    search(cfg, resume=True, quiet=True)
    assert sorted(t.trial for t in RunDir(cfg.out).trials() if t.ok) == [0, 1, 2, 3]


def test_a_population_that_diverged_is_a_failed_search_whose_records_read_back(tmp_path, capsys):
    out = tmp_path / "pba"
    args = ["run", "--space", "pba", "--engine", "local", "--dataset", "digits", "--subset", "300", "--epochs", "1",
            "--interval", "1", "--trials", "4", "--batch-size", "64", "--score", "loss", "--lr", "100000",
            "--out", str(out), "--quiet"]
    assert main(args) == 2
    assert "every trial failed (4 of 4: diverged: its score was -inf; lower --lr)" in capsys.readouterr().err
    assert [t.ok for t in RunDir(out).trials()] == [False] * 4  # before: -Infinity, then a corrupt record
    assert main(["run", "--resume", str(out), "--quiet"]) == 2
    assert "every trial failed (4 of 4" in capsys.readouterr().err


def test_a_score_that_is_not_finite_is_a_failed_trial_that_reads_back():
    for score in (float("nan"), float("-inf"), float("inf")):
        trial = Trial(0, 0, 3, {}, {"augsearch": 1, "kind": "cutout", "size": 4}, score,
                      metrics={"accuracy": 0.1, "loss": float("nan"), "epoch_1": float("-inf")})
        assert not trial.ok and trial.score is None and "diverged" in trial.error and "lower --lr" in trial.error
        assert trial.metrics == {"accuracy": 0.1}
        assert Trial.from_record(json.loads(trial.to_json())) == trial  # before: -Infinity, a corrupt record


def test_pba_needs_train_evaluate(tmp_path):
    with pytest.raises(ConfigError, match="needs --objective train-evaluate, not density-matching"):
        tiny(tmp_path, space="pba", objective="density-matching", score="best-of-k")


def test_the_report_of_a_trained_search_shows_every_candidates_curve(tmp_path):
    out = tmp_path / "mix"
    assert main(["run", "--space", "mix", "--dataset", "digits", "--subset", "200", "--epochs", "2", "--trials", "2",
                 "--top-n", "1", "--folds", "1", "--engine", "local", "--out", str(out), "--quiet"]) == 0
    page = (out / "report.html").read_text()
    assert "candidate training curves" in page and "kind: recipe" not in page.split("<nav>")[0]
    assert (out / "report" / "proxies.png").stat().st_size > 1000


def test_show_draws_a_recipe_with_its_mixing(tmp_path):
    path = from_config(RECIPE).save(tmp_path / "recipe.yaml")
    png = tmp_path / "grid.png"
    assert main(["show", str(path), "--out", str(png)]) == 0
    assert png.stat().st_size > 1000


def test_fast_aa_may_take_the_train_evaluate_objective(tmp_path):
    cfg = tiny(tmp_path, space="fast-aa", objective="train-evaluate", num_sub_policies=2, trials=3, top_n=2)
    assert cfg.score == "accuracy"  # the objective's default, not density matching's best-of-k
    run = search(cfg, quiet=True)
    assert all(t.ok and epoch_key(1) in t.metrics for t in run.trials())
    policy = augsearch.load_policy(str(run.policy_file))
    assert policy.kind == "policy" and 1 <= len(policy) <= 4  # the kept candidates' sub-policies, merged


def test_a_searched_schedule_is_compared_with_the_published_pba_schedule(tmp_path):
    from augsearch.proof.compare import Context, _published
    schedule = augsearch.load_policy("pba/reduced-cifar10")
    arm = _published(Context(schedule, "pba", tmp_path, 0))
    assert arm.policy == "pba/reduced-cifar10" and augsearch.load_policy(arm.policy).kind == "schedule"


def test_with_compare_trained_candidates_are_judged_at_the_final_length():
    final = resolve(overrides={"space": "randaugment", "compare": True, "compare_epochs": 40})
    assert final.epochs == 40 and final.grace_epochs == 40 and final.folds == 1  # no rung before the end
    chosen = resolve(overrides={"space": "randaugment", "compare": True, "compare_epochs": 40, "epochs": 8})
    assert chosen.epochs == 8 and chosen.grace_epochs == 1  # --epochs given: a short proxy, early stopping on
    late = resolve(overrides={"space": "randaugment", "compare": True, "compare_epochs": 40, "grace_epochs": 30})
    assert late.epochs == 40 and late.grace_epochs == 30
    short = resolve(overrides={"space": "randaugment"})
    assert short.epochs == 12 and short.grace_epochs == 1
    density = resolve(overrides={"space": "fast-aa", "compare": True, "compare_epochs": 40})
    assert density.epochs == 12 and density.folds == 2 and density.score == "loss"  # its proxy is not a candidate
    preset = resolve(overrides={"space": "adaptive", "preset": "resnet20-160"})
    assert (preset.model, preset.epochs, preset.compare_epochs, preset.precision, preset.grace_epochs) == (
        "resnet20", 160, 160, "bf16", 160)
    assert resolve(overrides={"space": "adaptive", "preset": "resnet20-160", "epochs": 20}).epochs == 20


def test_run_compare_trains_the_comparison_as_the_searchs_final_training(tmp_path):
    from augsearch.proof.compare import resolve_for_run

    run = resolve(overrides={"space": "adaptive", "preset": "resnet20-160", "base": "crop", "lr": 0.05,
                             "seeds": 4, "out": str(tmp_path / "r")})
    cfg = resolve_for_run(tmp_path / "r", run)
    assert (cfg.model, cfg.epochs, cfg.lr, cfg.precision, cfg.base, cfg.seeds, cfg.batch_size) == (
        "resnet20", 160, 0.05, "bf16", "crop", 4, 128)
