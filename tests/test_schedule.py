"""PBA schedules (``kind: schedule``): the pba convention against PBA's formulas, PBA's schedule text
(and hostile lines), the per-image rule against an independent simulation of PBA's, epochs that reach
DataLoader workers, files, the bundled schedules, exporters, ``augsearch train`` and ``show``."""

from __future__ import annotations

import collections
import copy
import json
import pickle
import random

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import augsearch
from augsearch import Schedule, load_policy
from augsearch.cli import main
from augsearch.conventions import CONVENTIONS
from augsearch.data import load_dataset
from augsearch.errors import PolicyError
from augsearch.export.albumentations import to_albumentations
from augsearch.export.imgaug import to_imgaug
from augsearch.export.torchvision import to_torchvision
from augsearch.models import build_model
from augsearch.ops import OPS
from augsearch.schedule import PBA_OPS, Phase, pba_phases, read_pba_log
from augsearch.trainer import Recipe, fit

ZERO = [0] * 60
CIFAR_STARTS = [0, 12, 34, 54, 74, 75, 81, 84, 111, 117, 138, 144, 153, 160, 177, 183, 195]


def vector(**ops: tuple[int, int]) -> list[int]:
    """A PBA vector with ``op=(probability * 10, level)`` in its first half, everything else 0."""
    v = list(ZERO)
    for name, (p, level) in ops.items():
        i = PBA_OPS.index(name)
        v[2 * i], v[2 * i + 1] = p, level
    return v


def line(target, clone, target_epoch, clone_epoch, old, new) -> str:
    return repr([target, clone, target_epoch, clone_epoch, old, new])


# ----------------------------------------------------------------------------- the convention

def test_pba_convention_equals_pbas_formulas():
    pba = CONVENTIONS["pba"]
    assert set(pba.entries) == {*PBA_OPS, "Identity", "FlipLR", "FlipUD"}
    assert all(e.op in OPS for e in pba.entries.values())
    assert pba.levels == 11 and pba.max_magnitude == 10
    formulas = {  # arcelien/pba augmentation_transforms.py, for PBA's 32x32 images
        "Rotate": lambda lv: int(lv * 30 / 10), "ShearX": lambda lv: lv * 0.3 / 10, "ShearY": lambda lv: lv * 0.3 / 10,
        "TranslateX": lambda lv: int(lv * 10 / 10), "TranslateY": lambda lv: int(lv * 10 / 10),
        "Posterize": lambda lv: 4 - int(lv * 4 / 10), "Solarize": lambda lv: 256 - int(lv * 256 / 10),
        "Cutout": lambda lv: int(lv * 20 / 10),
        **{n: (lambda lv: 0.1 + lv * 1.8 / 10) for n in ("Color", "Contrast", "Brightness", "Sharpness")},
    }
    for name in PBA_OPS:
        if name not in formulas:
            assert pba.entry(name).range is None and pba.value(name, None, size=(32, 32)) is None
            continue
        signed = name in ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY")
        assert pba.entry(name).range.signed == signed, name
        for level in range(11):
            want = formulas[name](level)
            got = pba.value(name, level, size=(32, 32))
            assert got == pytest.approx(want, abs=1e-6), (name, level)
            if isinstance(want, int):
                assert got == want, (name, level)  # whole pixels, bits, degrees: exact
            if signed:
                assert pba.value(name, level, size=(32, 32), negate=True) == pytest.approx(-want, abs=1e-6)
    assert pba.value("TranslateX", 7, size=(320, 64)) == 7  # pixels, whatever the image
    assert pba.value("Cutout", 10, size=(64, 64)) == 40  # 20/32 of the side
    with pytest.raises(PolicyError, match="magnitude outside 0..10"):
        pba.check_magnitude("Rotate", 11)


def test_a_vector_is_two_halves_of_probability_and_level_per_op():
    v = list(range(60))
    v = [x % 11 for x in v]
    entries = Phase(0, tuple(v)).entries()
    assert len(entries) == 30
    assert entries[0] == ("AutoContrast", v[0] / 10, v[1]) and entries[3] == ("Rotate", v[6] / 10, v[7])
    assert entries[14] == ("Cutout", v[28] / 10, v[29]) and entries[15] == ("AutoContrast", v[30] / 10, v[31])
    assert [e[0] for e in entries] == [*PBA_OPS, *PBA_OPS]


# ----------------------------------------------------------------------------- PBA's schedule text

GOOD = "\n".join([
    line("9", "8", 11, 12, ZERO, vector(Rotate=(3, 5))),
    line("7", "9", 35, 34, vector(Rotate=(3, 5)), vector(Invert=(10, 0))),
    line("0", "7", 56, 54, vector(Invert=(10, 0)), vector(Cutout=(2, 10))),
]) + "\n"


def test_pba_text_reads_as_pbas_parse_log(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(GOOD)
    schedule = read_pba_log(path, epochs=200, source="test")
    assert [(p.start, list(p.policy)) for p in schedule.phases] == [
        (0, ZERO), (12, vector(Rotate=(3, 5))), (34, vector(Invert=(10, 0))), (54, vector(Cutout=(2, 10)))]
    assert schedule.epochs == 200 and schedule.source == "test" and schedule.convention.name == "pba"
    # PBA's later logs hold each trial's config; a first clone at epoch 0 never uses its old policy
    configs = line("1", "2", 0, 0, {"hp_policy": ZERO, "lr": 0.1}, {"hp_policy": vector(Equalize=(5, 0))})
    assert [p.start for p in pba_phases(configs, epochs=10)] == [0]


HOSTILE = [
    ("[1, 2", "not a Python literal list (got '[1, 2')"),
    ("__import__('os').system('echo pwned')", "not a Python literal list"),
    ("[" * 5000, "not a Python literal list"),
    ("{'a': 1}", "a line is [target_trial, clone_trial, target_epoch, clone_epoch, old_policy, new_policy]"),
    (line("9", "8", 11, 12, ZERO, ZERO[:59]), "new_policy: a PBA policy has 60 integers"),
    (line("9", "8", 11, 12, ZERO, "abc"), "new_policy: a PBA policy is a list of 60 integers"),
    (line("9", "8", 11, 12, ZERO, vector(Rotate=(3, 11))),
     "new_policy[7]: Rotate level must be an integer 0..10 (got 11)"),
    (line("9", "8", 11, 12, ZERO, vector(Rotate=(11, 3))), "new_policy[6]: probability * 10 must be an integer 0..10"),
    (line("9", "8", 11, 12, [0.5] * 60, ZERO), "old_policy[0]: probability * 10 must be an integer"),
    (line("9", "8", 11, -1, ZERO, ZERO), "clone_epoch: must be an integer 0..199 (got -1)"),
    (line("9", "8", 11, 200, ZERO, ZERO), "clone_epoch: must be an integer 0..199 (got 200)"),
    (line("9", "8", True, 3, ZERO, ZERO), "target_epoch: must be an integer"),
    (line(None, "8", 1, 3, ZERO, ZERO), "target_trial: a trial is a name or a number"),
    (line("9", "8", 1, 3, {"lr": 1}, ZERO), "old_policy: a config needs hp_policy"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_a_bad_line_is_one_error_naming_file_line_and_place(tmp_path, text, message):
    path = tmp_path / "log.txt"
    path.write_text(text + "\n")
    with pytest.raises(PolicyError) as err:
        read_pba_log(path)
    text = str(err.value)
    assert text.startswith(f"{path}:1: ") and message in text and "\n" not in text, text


def test_later_lines_must_increase_and_follow_one_lineage(tmp_path):
    path = tmp_path / "log.txt"
    first = line("9", "8", 11, 12, ZERO, ZERO)
    for second, message in ((line("7", "9", 35, 12, ZERO, ZERO), "log.txt:2: clone_epoch: must be above the "
                                                                 "previous line's (12) (got 12)"),
                            (line("7", "9", 35, 5, ZERO, ZERO), "log.txt:2: clone_epoch: must be above"),
                            (line("7", "3", 35, 34, ZERO, ZERO), "log.txt:2: clone_trial: must be the previous "
                                                                 "line's target_trial '9'")):
        path.write_text(f"{first}\n{second}\n")
        with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_pba_log(path)
    path.write_text("\n  \n")
    with pytest.raises(PolicyError, match="log.txt: no schedule lines"):
        read_pba_log(path)
    with pytest.raises(PolicyError, match="cannot read PBA schedule"):
        read_pba_log(tmp_path / "missing.txt")


# ----------------------------------------------------------------------------- the per-image rule

def pba_simulation(entries, rng: random.Random) -> list[str]:
    """PBA's apply_policy, written from its description: 0/1/2 ops with 0.2/0.3/0.5, the 30 entries
    shuffled, each firing with its probability, stop once that many fired."""
    count = rng.choices([0, 1, 2], weights=[0.2, 0.3, 0.5])[0]
    fired: list[str] = []
    if count:
        order = list(entries)
        rng.shuffle(order)
        for name, prob, _ in order:
            if rng.random() < prob:
                fired.append(name)
                if len(fired) == count:
                    break
    return fired


def test_the_count_of_ops_is_0_1_2_with_02_03_05():
    schedule = Schedule([(0, [10, 3] * 30)], epochs=1)  # every entry always fires: the count is what was drawn
    g = torch.Generator().manual_seed(0)
    n = 20_000
    counts = collections.Counter(len(schedule.draw((32, 32), generator=g)) for _ in range(n))
    for k, p in enumerate((0.2, 0.3, 0.5)):
        assert abs(counts[k] / n - p) < 0.015, counts
    # the shuffle: with one op firing, each of the 15 ops (two entries each) is equally likely
    ones = collections.Counter(plan[0].name for plan in (schedule.draw((32, 32), generator=g) for _ in range(n))
                               if len(plan) == 1)
    total = sum(ones.values())
    assert set(ones) == set(PBA_OPS) and all(abs(c / total - 1 / 15) < 0.02 for c in ones.values()), ones


def test_draws_match_an_independent_simulation_of_pbas_rule():
    schedule = load_policy("pba/reduced-cifar10")
    schedule.set_epoch(150)
    entries = schedule.phase_at(150).entries()
    n = 20_000
    rng, g = random.Random(1), torch.Generator().manual_seed(1)
    ours = [[c.name for c in schedule.draw((32, 32), generator=g)] for _ in range(n)]
    theirs = [pba_simulation(entries, rng) for _ in range(n)]
    for stat in (lambda plans: collections.Counter(len(p) for p in plans),
                 lambda plans: collections.Counter(name for p in plans for name in p)):
        a, b = stat(ours), stat(theirs)
        tv = sum(abs(a[k] - b[k]) for k in set(a) | set(b)) / 2 / n
        assert tv < 0.03, (a, b)
    pba = CONVENTIONS["pba"]
    allowed = collections.defaultdict(set)  # each op appears twice in a vector, with its own level
    for name, prob, level in entries:
        if prob > 0:
            magnitude = level if pba.entry(name).range is not None else None
            allowed[name] |= {pba.value(name, magnitude, size=(32, 32), negate=s) for s in (False, True)}
    for call in (c for _ in range(500) for c in schedule.draw((32, 32), generator=g)):
        assert call.value in allowed[call.name], call


def test_set_epoch_switches_phases_on_images_and_batches(astronaut):
    schedule = Schedule([(0, ZERO), (3, vector(Invert=(10, 0)))], epochs=6)
    g = torch.Generator().manual_seed(0)
    assert schedule.epoch == 0 and all(schedule.draw((8, 8), generator=g) == () for _ in range(200))
    assert torch.equal(schedule(astronaut, generator=g), astronaut)
    schedule.set_epoch(3)
    plans = [schedule.draw((8, 8), generator=g) for _ in range(2000)]
    assert {tuple(c.name for c in p) for p in plans} == {(), ("Invert",)}
    assert abs(sum(map(len, plans)) / 2000 - 0.8) < 0.03  # one entry fires whenever the count is 1 or 2
    batch = torch.stack([astronaut] * 64)
    out, plans = schedule.trace(batch, generator=g)
    for image, plan in zip(out, plans):
        assert torch.equal(image, 255 - astronaut if plan else astronaut)
    schedule.set_epoch(5)
    assert schedule.phase_at(schedule.epoch).start == 3 and schedule.phase_at(2).start == 0
    for bad in (6, -1, True, 2.0, "3"):
        with pytest.raises(PolicyError, match="epoch: must be an integer 0..5"):
            schedule.set_epoch(bad)


# ----------------------------------------------------------------------------- epochs in workers

class EpochProbe(Dataset):
    """Items report the epoch the worker's copy of the schedule sees, and what it did to a picture."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.image = torch.full((3, 8, 8), 10, dtype=torch.uint8)

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int):
        out = self.schedule(self.image)
        return self.schedule.epoch, int(out[0, 0, 0])


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_dataloader_workers(method):
    schedule = Schedule([(0, ZERO), (1, [10, 0] * 30), (2, vector(Invert=(10, 0)))], epochs=3)
    loader = DataLoader(EpochProbe(schedule), batch_size=4, num_workers=2, persistent_workers=True,
                        multiprocessing_context=method)
    seen = {}
    for epoch in range(3):
        schedule.set_epoch(epoch)
        epochs, pixels = zip(*[(e, p) for es, ps in loader for e, p in zip(es.tolist(), ps.tolist())])
        seen[epoch] = collections.Counter(pixels)
        assert set(epochs) == {epoch}, (method, epoch, epochs)
    assert set(seen[0]) == {10}  # nothing fires in the first phase
    assert set(seen[2]) <= {10, 245} and seen[2][245] > 0  # only Invert in the last
    schedule.set_epoch(0)
    assert {e for es, _ in loader for e in es.tolist()} == {0}  # and back


def test_plain_pickle_and_copies_hold_their_own_epoch_and_files_hold_none(tmp_path):
    schedule = Schedule([(0, ZERO), (5, vector(Equalize=(4, 0)))], epochs=10, source="s")
    schedule.set_epoch(7)
    for clone in (pickle.loads(pickle.dumps(schedule)), copy.deepcopy(schedule)):
        assert clone == schedule and clone.epoch == 7
        clone.set_epoch(1)
        assert schedule.epoch == 7
    config = schedule.to_config()
    assert "epoch" not in config and "epoch" not in json.dumps(config).replace('"epochs"', "")
    first = schedule.save(tmp_path / "a.yaml").read_text()
    schedule.set_epoch(2)
    assert schedule.save(tmp_path / "b.yaml").read_text() == first
    assert load_policy(tmp_path / "a.yaml").epoch == 0


# ----------------------------------------------------------------------------- files

@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    schedule = Schedule([Phase(0, tuple(ZERO)), {"start": 4, "policy": vector(Cutout=(3, 7), Rotate=(10, 10))}],
                        epochs=9, fill=[1, 2, 3], interpolation="bilinear", source="mine")
    loaded = load_policy(schedule.save(tmp_path / f"s{suffix}"))
    assert isinstance(loaded, Schedule) and loaded == schedule and loaded.to_config() == schedule.to_config()
    assert loaded.cutout_fill == (1, 2, 3) and loaded.phases[1].policy == tuple(schedule.phases[1].policy)


def _bad_file(tmp_path, edit) -> str:
    config = Schedule([(0, ZERO), (4, vector(Rotate=(3, 3)))], epochs=9).to_config()
    edit(config)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(config, indent=1))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["phases"][1]["policy"].__setitem__(7, 11), "phases[1].policy[7]: Rotate level must be an integer "
                                                            "0..10 (got 11)"),
    (lambda c: c["phases"][1]["policy"].pop(), "phases[1].policy: a PBA policy has 60 integers"),
    (lambda c: c["phases"][0].__setitem__("start", 1), "phases[0].start: the first phase must start at epoch 0"),
    (lambda c: c["phases"][1].__setitem__("start", 0), "phases[1].start: phases must start at increasing epochs"),
    (lambda c: c["phases"][1].__setitem__("start", 9), "phases[1].start: must be an integer 0..8 (got 9)"),
    (lambda c: c["phases"][1].__setitem__("epoch", 9), "phases[1]: a phase is a mapping with exactly start and policy"),
    (lambda c: c["phases"].__setitem__(1, 5), "phases[1]: a phase is {start: epoch, policy: [60 integers]}"),
    (lambda c: c.__setitem__("phases", []), "phases: a schedule needs at least one phase"),
    (lambda c: c.__setitem__("phases", "x"), "phases: phases must be a list"),
    (lambda c: c.__setitem__("epochs", 0), "epochs: must be an integer 1..100000 (got 0)"),
    (lambda c: c.__setitem__("convention", "randaugment"), "convention: op is not part of the 'randaugment' "
                                                           "convention"),
    (lambda c: c.__setitem__("convention", "fast-aa"), "phases[1].policy[7]: magnitude outside 0..1"),
    (lambda c: c.__setitem__("epoch", 3), "epoch: unknown field for kind 'schedule'"),
])
def test_bad_schedule_files_are_one_error_naming_file_line_and_place(tmp_path, edit, message):
    text = _bad_file(tmp_path, edit)
    assert text.startswith(f"{tmp_path / 's.json'}:") and message in text, text


def test_stretch_is_pbas_parse_log_schedule():
    schedule = load_policy("pba/reduced-cifar10")
    starts = [*CIFAR_STARTS, 200]
    for epochs in (1, 7, 30, 90, 100, 199, 200, 400, 1800):
        per_epoch = []  # PBA's list of one policy per epoch, with its float multiplier
        for phase, end in zip(schedule.phases, starts[1:]):
            per_epoch += [phase.policy] * int((end - phase.start) * (epochs / 200))
        per_epoch += [schedule.phases[-1].policy] * (epochs - len(per_epoch))
        stretched = schedule.stretch(epochs)
        assert stretched.epochs == epochs
        assert [stretched.phase_at(e).policy for e in range(epochs)] == per_epoch, epochs
    assert schedule.stretch(200) == schedule


# ----------------------------------------------------------------------------- bundled, exports

def test_bundled_schedules_load_with_their_source():
    cifar, svhn = load_policy("pba/reduced-cifar10"), load_policy("pba/reduced-svhn")
    assert isinstance(cifar, augsearch.Schedule) and [p.start for p in cifar.phases] == CIFAR_STARTS
    assert cifar.epochs == 200 and svhn.epochs == 160 and len(svhn) == 14
    assert cifar.phases[0].policy == tuple(ZERO)  # PBA starts with no augmentation
    assert "arcelien/pba" in cifar.source and "12.82%" in cifar.source and "7.83%" in svhn.source


@pytest.mark.parametrize("export", [to_albumentations, to_torchvision, to_imgaug])
def test_exporters_refuse_a_schedule_in_one_line(export):
    with pytest.raises(PolicyError) as err:
        export(load_policy("pba/reduced-svhn"))
    text = str(err.value)
    assert "schedule changes its policy with the training epoch" in text and "set_epoch" in text
    assert "\n" not in text


# ----------------------------------------------------------------------------- train and show

def test_train_calls_set_epoch_at_each_epoch_and_stretches(tmp_path, monkeypatch, capsys):
    calls = []
    original = Schedule.set_epoch

    def recording(self, epoch):
        calls.append((self.epochs, epoch))
        original(self, epoch)

    monkeypatch.setattr(Schedule, "set_epoch", recording)
    path = Schedule([(0, ZERO), (2, vector(Invert=(10, 0)))], epochs=4).save(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    assert main(["train", str(path), "--epochs", "2", "--subset", "200", "--batch-size", "64", "--out", str(out),
                 "--quiet"]) == 0
    assert calls == [(2, 0), (2, 1)]  # stretched from 4 epochs to the training's 2
    used = load_policy(out / "policy.yaml")
    assert used.epochs == 2 and [p.start for p in used.phases] == [0, 1]
    assert json.loads((out / "metrics.json").read_text())["policy_kind"] == "schedule"


def test_a_resumed_fit_sets_the_epoch_it_resumes_at(tmp_path):
    data = load_dataset("digits", subset=256)
    recipe = Recipe(3, batch_size=64, lr=0.05)

    def run(checkpoint, **hooks):
        schedule = Schedule([(0, ZERO), (2, vector(Invert=(10, 0), Rotate=(10, 10)))], epochs=3)  # a fresh process's
        calls = []

        def epoch_start(epoch):
            calls.append(epoch)
            schedule.set_epoch(epoch)

        net = build_model("small-cnn", num_classes=10, image_size=16, seed=0)
        try:
            history = fit(net, data, recipe, seed=1, augment=schedule, checkpoint=checkpoint, epoch_start=epoch_start,
                          **hooks).history
        except KeyboardInterrupt:
            history = None
        return calls, history

    def stop_after_two(metrics):
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt

    calls, whole = run(tmp_path / "a.pt")
    assert calls == [0, 1, 2]
    assert run(tmp_path / "b.pt", on_epoch=stop_after_two) == ([0, 1], None)
    calls, resumed = run(tmp_path / "b.pt")
    assert calls == [2] and [h["loss"] for h in resumed] == [h["loss"] for h in whole]


def test_show_draws_the_phase_of_an_epoch(tmp_path, capsys):
    out = tmp_path / "g.png"
    assert main(["show", "pba/reduced-cifar10", "--epoch", "150", "--dataset", "digits", "--rows", "2", "--n", "2",
                 "--out", str(out)]) == 0
    assert out.exists()
    for args, message in ((["trivial", "--epoch", "1"], "a trivialaugment policy does not change with the epoch"),
                          (["pba/reduced-svhn", "--epoch", "160"], "epoch: must be an integer 0..159")):
        assert main(["show", *args, "--dataset", "digits", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_a_schedule_inside_a_recipe_is_stretched_and_advances_every_epoch(tmp_path, monkeypatch):
    from augsearch.recipe import AugmentationRecipe
    recipe = AugmentationRecipe(policy=load_policy("pba/reduced-cifar10"), base="crop-flip")
    path = recipe.save(tmp_path / "recipe.yaml")
    seen = []
    real = Schedule.set_epoch
    monkeypatch.setattr(Schedule, "set_epoch", lambda self, epoch: (seen.append((self.epochs, epoch)),
                                                                     real(self, epoch))[1])
    augsearch.train(str(path), dataset="digits", subset=100, epochs=3, batch_size=50, out=str(tmp_path / "t"))
    # before: the recipe had no set_epoch, so its schedule drew from epoch 0's phase all along, unstretched
    assert seen == [(3, 0), (3, 1), (3, 2)]
    trained = load_policy(tmp_path / "t" / "policy.yaml")
    assert trained.kind == "recipe" and trained.policy.epochs == 3 and trained.base == "crop-flip"
    plain = AugmentationRecipe(base="flip")
    assert recipe.stretch(200) == recipe and plain.stretch(5) == plain
