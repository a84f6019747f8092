"""A new space, objective, runner, model and dataset are each one definition in one file: this
file registers one of each and runs ``augsearch run`` with them, help and report included, without
any other change to augsearch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import optuna
import pytest
import torch
from torch import nn

from augsearch import RandAugment, load_policy
from augsearch.cli import main
from augsearch.data import DATASETS, ImageSet
from augsearch.models import MODELS
from augsearch.policy import Augment, PolicyData
from augsearch.search.objectives import OBJECTIVES
from augsearch.search.protocols import Objective, Report, Scorer, Space, Split
from augsearch.search.rundir import RunDir, Store
from augsearch.search.runners import RUNNERS, Runner
from augsearch.search.spaces import SPACES
from augsearch.search.study import Budget, evaluate_trial


class RandAugmentGrid(Space):
    """RandAugment's own method: a small (N, M) grid, searched on the target task."""

    name = "randaugment-grid"
    description = "RandAugment N in 1..2, M in {3, 9}"
    grid = {"n": [1, 2], "m": [3, 9]}

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {key: optuna.distributions.CategoricalDistribution(values) for key, values in self.grid.items()}

    def candidate(self, params: Mapping[str, int]) -> RandAugment:
        return RandAugment(n=params["n"], m=params["m"])

    def combine(self, kept: Sequence[PolicyData], *, source: str) -> PolicyData:
        return kept[0]

    def sampler(self, *, seed: int, startup_trials: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GridSampler(self.grid, seed=seed)

    def size(self) -> int:
        return 4


class Gentle(Objective):
    """Prefers policies that change D_A's pixels least (a toy objective with no proxy)."""

    def prepare(self, split: Split, store: Store, device: torch.device) -> Scorer:
        images = split.augment_data.images.to(device)

        def score(policy: PolicyData, seed: int, *, report: Report | None = None) -> dict[str, float]:
            assert isinstance(policy, Augment)  # no training: nothing to report
            out = policy(images, generator=torch.Generator().manual_seed(seed))
            change = (out.float() - images.float()).abs().mean().item()
            return {"score": -change, "change": change}
        return score


class EveryPointOnce(Runner):
    """A runner that tries the space's whole grid in order, without a sampler (a toy runner)."""

    waiting = "trying every point of the grid"

    def search_split(self, split: Split, *, space: Space, objective: Objective, budget: Budget, store: Store,
                     device: torch.device) -> None:
        scorer = objective.prepare(split, store, device)
        done = {t.trial for t in store.trials() if t.split == split.index}
        for number, params in enumerate(space.points()):  # type: ignore[attr-defined]
            if number not in done:
                store.append_trial(evaluate_trial(params, space, scorer, split=split.index, repeat=0, number=number,
                                                  seed=number))


class GridInOrder(RandAugmentGrid):
    """The same grid, declared to be run by the runner above."""

    name = "grid-in-order"

    def runner(self, objective: Objective) -> str:
        return "every-point-once"

    def points(self) -> list[dict]:
        return [{"n": n, "m": m} for n in RandAugmentGrid.grid["n"] for m in RandAugmentGrid.grid["m"]]


def stripes(argument: str | None, *, image_size: int | None, split: str, **_: object) -> ImageSet:
    """Two classes, horizontal and vertical stripes, made on the spot."""
    side = image_size or 16
    base = (torch.arange(side) // 2 % 2 * 200).to(torch.uint8)
    horizontal = base.view(side, 1).expand(side, side)
    images = torch.stack([horizontal, horizontal.T] * 60).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    return ImageSet(images, torch.tensor([0, 1] * 60), ["horizontal", "vertical"], "stripes")


def tiny_linear(argument: str | None, *, num_classes: int, image_size: int, in_channels: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


@pytest.fixture
def registered() -> Iterator[None]:
    entries = ((SPACES, "randaugment-grid", lambda: RandAugmentGrid()), (OBJECTIVES, "gentle", lambda: Gentle()),
               (DATASETS, "stripes", stripes), (MODELS, "tiny-linear", tiny_linear),
               (RUNNERS, "every-point-once", EveryPointOnce), (SPACES, "grid-in-order", lambda: GridInOrder()))
    for registry, name, entry in entries:
        registry.register(name, entry)
    yield
    for registry, name, _ in entries:
        registry.unregister(name)


def test_new_names_show_in_help(registered, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "randaugment-grid" in text and "gentle" in text and "stripes" in text and "tiny-linear" in text


def test_a_new_space_model_and_dataset_run_with_density_matching(registered, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--space", "randaugment-grid", "--model", "tiny-linear", "--dataset", "stripes",
                 "--engine", "local", "--folds", "1", "--trials", "4", "--top-n", "1", "--epochs", "1",
                 "--batch-size", "16", "--draws", "1", "--out", str(out), "--quiet"]) == 0
    policy = load_policy(out / "policy.yaml")
    assert isinstance(policy, RandAugment)
    trials = RunDir(out).trials()
    assert sorted((t.params["n"], t.params["m"]) for t in trials) == [(1, 3), (1, 9), (2, 3), (2, 9)]  # the grid
    assert all(isinstance(t.policy(), RandAugment) for t in trials)
    assert "RandAugment(n=" in (out / "report.html").read_text()  # the report reads any candidate


def test_a_new_objective_scores_the_candidates(registered, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--space", "randaugment-grid", "--objective", "gentle", "--dataset", "stripes",
                 "--engine", "local", "--folds", "1", "--trials", "4", "--top-n", "1", "--epochs", "1",
                 "--out", str(out), "--quiet", "--no-report"]) == 0
    trials = RunDir(out).trials()
    assert all("change" in t.metrics for t in trials)
    best = max(trials, key=lambda t: t.score)
    assert load_policy(out / "policy.yaml") == best.policy()
    assert best.params["n"] == 1  # one op changes fewer pixels than two


def test_a_new_runner_runs_the_spaces_that_declare_it(registered, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--space", "grid-in-order", "--objective", "gentle", "--dataset", "stripes",
                 "--engine", "local", "--folds", "1", "--trials", "4", "--top-n", "1", "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    trials = sorted(RunDir(out).trials(), key=lambda t: t.trial)
    assert [(t.params["n"], t.params["m"]) for t in trials] == [(1, 3), (1, 9), (2, 3), (2, 9)]  # in order
    assert load_policy(out / "policy.yaml") == max(trials, key=lambda t: (t.score, -t.trial)).policy()


def test_unknown_names_list_the_registered_ones(tmp_path, capsys):
    assert main(["run", "--model", "nope", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'; known: small-cnn, wrn40_2, resnet20, resnet18, timm:NAME" in err
    assert not (tmp_path / "r").exists()  # refused before anything was created
