"""Proxy sanity: every search says how well its proxies classify clean D_A beside chance, and warns
when a proxy is near chance or the candidates' scores are saturated (terminal, summary, report)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augsearch.cli import main
from augsearch.search import run as run_module
from augsearch.search.config import resolve
from augsearch.search.run import proxy_warnings, search
from augsearch.viz.report import write_report

TINY = dict(engine="local", dataset="digits", subset=300, epochs=1, batch_size=64, folds=1, trials=3, top_n=1,
            startup_trials=2, num_sub_policies=2, num_ops=2, draws=2)
TINY_FLAGS = ["--engine", "local", "--subset", "300", "--epochs", "1", "--batch-size", "64", "--folds", "1",
              "--trials", "3", "--top-n", "1", "--startup-trials", "2", "--num-sub-policies", "2", "--num-ops", "2",
              "--draws", "2", "--no-report"]


# ----------------------------------------------------------------------------- the pure rule

def test_a_proxy_near_chance_warns_with_what_to_change():
    found = proxy_warnings({"0": 0.93, "1": 0.14}, 0.1, 0.6, "best-of-k")
    assert found == ["the proxy of split 1 is near chance (acc 0.14, chance 0.10): train it longer (--epochs), "
                     "use a larger model (--model) or check the data"]


def test_the_near_chance_line_is_a_quarter_of_the_way_to_perfect():
    assert proxy_warnings({"0": 0.32}, 0.1, None, "loss") and not proxy_warnings({"0": 0.33}, 0.1, None, "loss")
    assert proxy_warnings({"0": 0.62}, 0.5, None, "loss") and not proxy_warnings({"0": 0.63}, 0.5, None, "loss")


def test_a_good_proxy_with_spread_scores_does_not_warn():
    assert proxy_warnings({"0": 0.95, "1": 0.91}, 0.1, 0.85, "best-of-k") == []
    assert proxy_warnings({"0": 0.95}, 0.1, 0.85, "accuracy") == []
    assert proxy_warnings({}, 0.1, None, "best-of-k") == []  # no proxy records, no scores: nothing to judge


@pytest.mark.parametrize("rule", ["best-of-k", "accuracy"])
def test_saturated_accuracy_like_scores_warn(rule):
    [warning] = proxy_warnings({"0": 0.99}, 0.1, 0.995, rule)
    assert warning.startswith("candidate scores are saturated near 1.0 (median 0.995): the proxy cannot tell "
                              "candidates apart; try --score loss")
    assert ("--draws" in warning) == (rule == "best-of-k") and warning.endswith("or a harder dataset")
    assert proxy_warnings({"0": 0.99}, 0.1, 0.98, rule) and not proxy_warnings({"0": 0.99}, 0.1, 0.979, rule)


def test_loss_scores_do_not_saturate():
    assert proxy_warnings({"0": 0.99}, 0.1, 0.995, "loss") == []
    assert proxy_warnings({"0": 0.99}, 0.1, -0.01, "loss") == []


# ----------------------------------------------------------------------------- a real search

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sanity") / "run"
    return search(resolve(overrides={**TINY, "out": str(out)}), quiet=True)


def test_summary_has_the_proxy_block_and_warnings(tiny_run):
    summary = json.loads(tiny_run.summary_file.read_text())
    proxy = summary["proxy"]
    record = json.loads(tiny_run.proxy_metrics(0).read_text())
    trials = [t.score for t in tiny_run.trials() if t.ok]
    assert proxy["classes"] == 10 and proxy["chance"] == pytest.approx(0.1)
    assert proxy["clean_accuracy"] == {"0": record["holdout_accuracy"]}
    assert proxy["best_score"] == max(trials) and min(trials) <= proxy["median_score"] <= max(trials)
    assert isinstance(summary["warnings"], list) and all(isinstance(w, str) for w in summary["warnings"])
    assert summary["warnings"] == proxy_warnings(proxy["clean_accuracy"], proxy["chance"], proxy["median_score"],
                                                 summary["score"])


def _summary_section(page: str) -> str:
    return page.split('<section id="summary">', 1)[1].split("</section>", 1)[0]


def test_report_shows_the_proxies_beside_chance_and_the_warnings(tiny_run):
    file = tiny_run.summary_file
    summary = json.loads(file.read_text())
    acc = summary["proxy"]["clean_accuracy"]["0"]
    file.write_text(json.dumps({**summary, "warnings": ["the proxy of split 0 is near chance <really>"]}))
    section = _summary_section(write_report(tiny_run.path).read_text())
    assert f"split 0: {acc:.3f} (chance 0.100)" in section
    assert 'class="warning"' in section and "near chance &lt;really&gt;" in section
    assert "proxy clean accuracy" in section and "warnings" not in section.replace('class="warning"', "")

    file.write_text(json.dumps({**summary, "warnings": []}))
    assert 'class="warning"' not in _summary_section(write_report(tiny_run.path).read_text())


def test_report_of_an_old_summary_without_these_keys_still_renders(tiny_run):
    summary = json.loads(tiny_run.summary_file.read_text())
    old = {k: v for k, v in summary.items() if k not in ("proxy", "warnings")}
    tiny_run.summary_file.write_text(json.dumps(old))
    section = _summary_section(write_report(tiny_run.path).read_text())
    assert "best score per split" in section and "proxy clean accuracy" not in section
    assert 'class="warning"' not in section


# ----------------------------------------------------------------------------- the terminal

@pytest.mark.parametrize("quiet", [True, False])
def test_cli_prints_warnings_to_stderr_even_when_quiet(tmp_path, capsys, monkeypatch, quiet):
    monkeypatch.setattr(run_module, "SATURATED", 0.0)  # any best-of-k median counts as saturated
    out = tmp_path / "run"
    assert main(["run", *TINY_FLAGS, "--score", "best-of-k", "--out", str(out),
                 "--quiet" if quiet else "--no-quiet"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    saturated = [w for w in warnings if w.startswith("warning: candidate scores are saturated near 1.0")]
    assert len(saturated) == 1 and "--score loss" in saturated[0]
    assert len(warnings) == len(json.loads((out / "summary.json").read_text())["warnings"])  # one line each
    lines = captured.out.strip().splitlines()
    assert lines[-1].endswith("policy.yaml")
    if quiet:
        assert len(lines) == 1
    else:
        acc = json.loads((out / "summary.json").read_text())["proxy"]["clean_accuracy"]["0"]
        assert f"proxy clean accuracy {acc:.3f} (chance 0.100)" in captured.out


def test_cli_prints_no_warning_lines_when_there_are_none(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run_module, "proxy_warnings", lambda *args, **kwargs: [])
    assert main(["run", *TINY_FLAGS, "--out", str(Path(tmp_path) / "run"), "--quiet"]) == 0
    assert "warning:" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- trained searches

def test_a_trained_search_whose_candidates_all_stay_near_chance_warns():
    found = proxy_warnings({}, 0.1, 0.15, "accuracy", best_trained=0.153)
    assert len(found) == 1 and found[0].startswith("every candidate's proxy is near chance (best held-out accuracy "
                                                   "0.15, chance 0.10)") and "--epochs" in found[0]
    assert proxy_warnings({}, 0.1, 0.3, "accuracy", best_trained=0.33) == []
    assert proxy_warnings({}, 0.1, -2.2, "loss", best_trained=0.2)  # whatever the score rule


def test_randaugment_trained_for_one_epoch_says_its_scores_mean_little(tmp_path, capsys):
    # the example: one epoch of small-cnn on digits picks a grid point from scores near chance
    out = tmp_path / "ra"
    assert main(["run", "--space", "randaugment", "--engine", "local", "--subset", "300", "--epochs", "1",
                 "--batch-size", "64", "--trials", "4", "--lr", "0.001", "--no-report", "--out", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"] == 4 and summary["proxy"]["best_score"] < 0.325  # near chance: the premise holds
    assert any(w.startswith("every candidate's proxy is near chance") for w in summary["warnings"])
    assert "warning: every candidate's proxy is near chance" in capsys.readouterr().err


def test_the_default_main_job_tells_its_candidates_apart(tmp_path, capsys):
    # `augsearch run --space fast-aa` as a new user first runs it (in-process: the same trials as on Ray)
    out = tmp_path / "main"
    assert main(["run", "--space", "fast-aa", "--engine", "local", "--no-report", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["score"] == "loss" and summary["warnings"] == []
    assert "warning:" not in capsys.readouterr().err
    scores = sorted(t["score"] for t in map(json.loads, (out / "trials.jsonl").read_text().splitlines()))
    assert len(set(scores)) == len(scores) == 80  # every candidate its own score: nothing tied at a ceiling
