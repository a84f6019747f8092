"""The policy commands: ops, policies, export; and the one-line error contract."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import augsearch
from augsearch.cli import main
from augsearch.conventions import CONVENTIONS
from augsearch.ops import OPS


def test_ops_lists_every_op_and_convention(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    for name in [*OPS, *CONVENTIONS]:
        assert name in out
    assert "bins 0..9" in out and "0..1" in out


def test_ops_for_one_convention_shows_its_ranges(capsys):
    assert main(["ops", "--convention", "trivial-wide"]) == 0
    out = capsys.readouterr().out
    assert "0..135" in out and "fast-aa" not in out


def test_policies_lists_every_bundled_policy(capsys):
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    for name in augsearch.bundled_policies():
        assert name in out
    assert "kakaobrain/fast-autoaugment" in out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_to_policy_files_round_trips(tmp_path, fmt, capsys):
    target = tmp_path / f"p.{fmt}"
    assert main(["export", "autoaugment/svhn", "--to", fmt, "-o", str(target)]) == 0
    assert augsearch.load_policy(target) == augsearch.load_policy("autoaugment/svhn")
    assert main(["export", "randaugment:n=1,m=5", "--to", fmt]) == 0
    assert "randaugment" in capsys.readouterr().out


def test_export_to_albumentations_loads_back(tmp_path):
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A  # noqa: N812

    target = tmp_path / "aa.json"
    assert main(["export", "autoaugment/cifar10", "--to", "albumentations", "-o", str(target)]) == 0
    pipeline = A.load(str(target))
    assert isinstance(pipeline, A.Compose)


@pytest.mark.parametrize("argv, message", [
    (["export", "no-such-policy", "--to", "yaml"], "unknown policy spec"),
    (["export", "mixup:alpha=0.2,num_classes=10", "--to", "albumentations"], "albumentations"),
    (["ops", "--convention", "nope"], "unknown magnitude convention"),
])
def test_errors_are_one_line_with_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_policy_file_from_the_cli_names_file_line_and_place(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("augsearch: 1\nkind: policy\nconvention: fast-aa\nsub_policies:\n"
                   "- [[Rotate, 0.5, 0.3]]\n- [[Rotate, 1.5, 0.3]]\n")
    assert main(["export", str(bad), "--to", "json"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{bad}:6" in err and "sub_policies[1][0].prob" in err and "1.5" in err


def test_python_dash_m_augsearch_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "augsearch", "spaces"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and "fast-aa" in done.stdout


def test_version_and_a_reader_that_goes_away(capsys):
    import subprocess
    import sys

    import augsearch

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"augsearch {augsearch.__version__}"
    listing = subprocess.run(f"{sys.executable} -m augsearch policies | head -1", shell=True, capture_output=True,
                             text=True, timeout=120, check=False)
    assert listing.stderr == "" and len(listing.stdout.splitlines()) == 1  # no BrokenPipeError traceback


def test_a_search_ends_by_naming_the_policy_the_report_and_how_to_use_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--dataset", "digits", "--subset", "200", "--epochs", "1", "--folds", "1", "--trials", "2",
                 "--top-n", "1", "--draws", "1", "--engine", "local", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3] == f"report: {out / 'report.html'}"
    assert "augsearch.load_policy(" in lines[-2] and f"augsearch train {out / 'policy.yaml'}" in lines[-2]
    assert lines[-1] == str(out / "policy.yaml")


@pytest.mark.parametrize("command", [["run", "--resume", "R", "--trials", "3"],
                                     ["train", "--resume", "R", "--epochs", "2"],
                                     ["compare", "--resume", "R", "trivial"]])
def test_resume_refuses_other_options_in_one_line(command, capsys):
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert "--resume keeps the run's own config; drop" in err and len(err.splitlines()) == 1
