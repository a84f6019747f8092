"""The search report, from a tiny synthetic run directory."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from PIL import Image

from augsearch import Policy
from augsearch.cli import main
from augsearch.search.rundir import RunDirError, Trial
from augsearch.viz.report import SECTIONS, write_report

SUB_POLICIES = [[["Rotate", 0.7, 0.8], ["Equalize", 0.4, None]], [["Cutout", 0.5, 0.3], ["Color", 0.9, 0.1]],
                [["ShearX", 0.2, 0.6], ["Invert", 0.1, None]]]


def make_run(root: Path, *, dataset: str = "digits") -> Path:
    """Two splits of three trials each (one failed), proxies, a final policy and a summary."""
    run = root / "run"
    (run / "proxies").mkdir(parents=True)
    config = {"space": "fast-aa", "dataset": dataset, "model": "small-cnn", "folds": 2, "trials": 3, "repeats": 1,
              "num_sub_policies": 2, "num_ops": 2, "top_n": 2, "seed": 0, "engine": "local", "out": str(run)}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    lines = []
    for split in range(2):
        for trial in range(3):
            failed = split == 1 and trial == 1
            candidate = Policy(SUB_POLICIES[trial:trial + 2] or SUB_POLICIES[:1], convention="fast-aa")
            lines.append(Trial(
                split=split, repeat=0, trial=trial, params={}, candidate=None if failed else candidate.to_config(),
                score=None if failed else 0.5 + 0.1 * trial + 0.01 * split,
                metrics={} if failed else {"accuracy": 0.8, "loss": 0.6}, seconds=1.5,
                error="RuntimeError: out of memory" if failed else None).to_json())
        epochs = [{"epoch": e, "loss": 2.0 / e, "train_acc": 0.3 * e, "lr": 0.05, "seconds": 1.0} for e in (1, 2, 3)]
        (run / "proxies" / f"split{split}.json").write_text(json.dumps(
            {"split": split, "train_size": 60, "holdout_size": 40, "epochs": epochs, "holdout_accuracy": 0.85,
             "seconds": 3.0}))
    (run / "trials.jsonl").write_text("\n".join(lines) + "\n")
    Policy([[tuple(op) for op in sp] for sp in SUB_POLICIES], convention="fast-aa").save(run / "policy.yaml")
    (run / "summary.json").write_text(json.dumps({
        "space": "fast-aa", "dataset": dataset, "model": "small-cnn", "engine": "local", "device": "cpu",
        "wall_seconds": 3725.0, "trials": 6, "failed_trials": 1, "trials_per_second": 0.0016,
        "device_hours": 1.03, "best_score_per_split": {"0": 0.7, "1": 0.71}, "final_sub_policies": 3}))
    return run


class Page(HTMLParser):
    """The sections and embedded images of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs["src"])

    def handle_data(self, data):
        self.text += data


def parse(report: Path) -> Page:
    page = Page()
    page.feed(report.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_report(make_run(tmp_path_factory.mktemp("report")))


def test_report_is_one_page_with_every_section_and_embedded_pngs(report):
    assert report.name == "report.html"
    page = parse(report)
    assert page.sections == [key for key, _ in SECTIONS]
    assert len(page.images) == 4
    prefix = "data:image/png;base64,"
    for src in page.images:
        assert src.startswith(prefix)
        with Image.open(io.BytesIO(base64.b64decode(src[len(prefix):]))) as image:
            assert image.format == "PNG" and image.width > 300
    assert sorted(p.name for p in (report.parent / "report").iterdir()) == [
        "ops.png", "proxies.png", "samples.png", "scores.png"]


def test_report_tables_hold_the_run(report):
    text = parse(report).text
    assert "1h 02m 05s" in text and "device-hours" in text and "1.0300" in text
    assert "Rotate p=0.70 m=0.80 (-18° / 18°)" in text  # level and both signs of the physical value
    assert "Equalize p=0.40" in text and "out of memory" not in text
    assert "Cutout p=0.50 m=0.30 (0.96px)" in text  # on digits' own 16 px images, not 32 px
    assert "did not load" not in text  # digits loads, so the samples are the run's own data


def test_a_dataset_that_will_not_load_falls_back_to_photos(tmp_path):
    page = parse(write_report(make_run(tmp_path, dataset="folder:/no/such/folder")))
    assert "did not load" in page.text and len(page.images) == 4


@pytest.mark.parametrize(("damage", "named"), [
    (lambda run: (run / "summary.json").unlink(), "summary.json: missing"),
    (lambda run: (run / "policy.yaml").unlink(), "policy.yaml: missing"),
    (lambda run: (run / "proxies" / "split1.json").unlink(), "split1.json: missing"),
    (lambda run: (run / "config.yaml").write_text("- a list\n"), "config.yaml: corrupt"),
    (lambda run: (run / "summary.json").write_text("{not json"), "summary.json: corrupt"),
    (lambda run: (run / "trials.jsonl").write_text('{"split": 0}\n'), "trials.jsonl:1: corrupt"),
    (lambda run: (run / "trials.jsonl").write_text(""), "trials.jsonl: no trials"),
    (lambda run: (run / "trials.jsonl").write_text(
        '{"split": 0, "repeat": 0, "trial": 0, "params": {}, "score": 0.5, "candidate": {"augsearch": 1, '
        '"convention": "fast-aa", "sub_policies": [[["Rotate", "often", 0.3]]]}}\n'),
     "trials.jsonl:1: corrupt trial record \\(candidate: sub_policies\\[0\\]\\[0\\].prob: probability"),
    (lambda run: (run / "proxies" / "split0.json").write_text('{"epochs": 3}'), "split0.json: corrupt"),
])
def test_broken_run_files_are_named(tmp_path, damage, named):
    run = make_run(tmp_path)
    damage(run)
    with pytest.raises(RunDirError, match=named):
        write_report(run)


def test_report_command(tmp_path, capsys):
    run = make_run(tmp_path)
    (run / "trials.jsonl").write_text((run / "trials.jsonl").read_text() + "{broken\n")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trials.jsonl:7: corrupt" in err
    (run / "trials.jsonl").write_text((run / "trials.jsonl").read_text().replace("{broken\n", ""))
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
