"""The policy commands: ops, policies, export; the one-line error contract; a command line that
starts without importing torch, and the package's names imported on first use."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

import augsearch
from augsearch.cli import chosen_command, main
from augsearch.commands import COMMANDS, command
from augsearch.conventions import CONVENTIONS
from augsearch.data import DATASETS
from augsearch.errors import ConfigError
from augsearch.lazy import type_checking_imports
from augsearch.ops import OPS
from augsearch.search.spaces import SPACES

HEAVY = ("torch", "torchvision", "numpy", "ray", "optuna", "PIL", "yaml", "albumentations", "timm", "matplotlib")


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the heavy modules it left imported and what it printed."""
    probe = (f"import sys, json\n{code}\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert "Traceback" not in done.stderr, done.stderr
    return {"heavy": json.loads(done.stderr.splitlines()[-1]), "out": done.stdout, "rc": done.returncode}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["spaces", "--help"], ["nope"]])
def test_the_command_line_answers_without_importing_torch(argv):
    seen = loaded_after(f"import augsearch.cli\ntry:\n    augsearch.cli.main({argv!r})\nexcept SystemExit as e:\n"
                        f"    print('exit', e.code)")
    assert seen["heavy"] == [], f"augsearch {' '.join(argv)} imported {seen['heavy']}"
    if argv == ["--help"]:
        assert seen["out"].rstrip().endswith("exit 0")
        for name, cmd in COMMANDS.items():  # every command with the first line of its help
            assert name in seen["out"] and cmd.run.__doc__.split()[0] in seen["out"]
    if argv == ["--version"]:
        assert seen["out"].splitlines() == [f"augsearch {augsearch.__version__}", "exit 0"]
    if argv in ([], ["nope"]):
        assert seen["out"].rstrip().endswith("exit 2")


def test_importing_augsearch_imports_its_names_on_first_use():
    seen = loaded_after("import augsearch\nassert 'torch' not in sys.modules\nfrom augsearch import Policy\n"
                        "print(Policy.__module__, augsearch.Policy is Policy)")
    assert seen["out"].split() == ["augsearch.policy", "True"] and "torch" in seen["heavy"]


@pytest.mark.parametrize("package", ["augsearch", "augsearch.search", "augsearch.viz"])
def test_each_lazy_package_lists_its_names_once_and_every_one_resolves(package):
    module = importlib.import_module(package)
    where = type_checking_imports(package)
    assert sorted(where) == sorted(module.__all__)  # the TYPE_CHECKING block and __all__ agree
    for name, (home, original) in where.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), original)
        assert name in dir(module)
    namespace: dict = {}
    exec(f"from {package} import *", namespace)
    assert set(module.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_policies_made_from_the_lazy_package_unpickle_in_a_fresh_process():
    policy = augsearch.load_policy("fast-aa/reduced-cifar10")
    code = ("import pickle, sys\npolicy = pickle.loads(sys.stdin.buffer.read())\n"
            "print(type(policy).__module__, len(policy))")
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(policy), capture_output=True, timeout=120,
                          check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.decode().split() == ["augsearch.policy", str(len(policy))], done.stderr.decode()


@pytest.mark.parametrize("argv, chosen", [(["run", "--help"], "run"), (["--help"], None), ([], None),
                                          (["--version", "ops"], "ops"), (["export", "trivial", "--to", "yaml"],
                                                                          "export")])
def test_the_chosen_command_is_the_first_word_that_is_no_option(argv, chosen):
    assert chosen_command(argv) == chosen


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith(f"usage: augsearch {name}")


@pytest.mark.parametrize("argv, names", [(["run", "--help"], [*SPACES, *DATASETS]), (["ops", "--help"], CONVENTIONS),
                                         (["sweep", "--help"], CONVENTIONS), (["show", "--help"], DATASETS)])
def test_a_commands_help_lists_the_registered_choices(argv, names, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps long lines
    assert all(name in out for name in names)


@pytest.fixture
def broken_setup():
    """A command whose arguments cannot be set up, as when a registry's import fails or Ctrl-C hits it."""
    def setup(p):
        raise {"bad": ConfigError("a registry refused"), "slow": KeyboardInterrupt()}[p.prog.split()[-1]]

    def run(args):
        """A command that never runs."""
        raise AssertionError("not reached")
    for name in ("bad", "slow"):
        command(name, setup)(run)
    yield
    for name in ("bad", "slow"):
        COMMANDS.unregister(name)


@pytest.mark.parametrize("name, status, message", [("bad", 2, "augsearch bad: error: a registry refused"),
                                                   ("slow", 130, "augsearch slow: interrupted")])
def test_a_failing_setup_is_one_line_too(broken_setup, name, status, message, capsys):
    assert main([name, "--help"]) == status
    assert capsys.readouterr().err.splitlines() == [message]


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


def test_a_missing_folder_in_a_config_file_names_the_file_and_field(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mine.yaml"
    config.write_text("dataset: folder:pictures/train\nepochs: 1\n")
    assert main(["run", "-c", str(config), "--out", "r"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"augsearch run: error: {config}: dataset: 'folder:pictures/train': no pictures/train in the "
                   f"working directory {tmp_path}; put it there or override it: --dataset folder:PATH"]
    assert not (tmp_path / "r").exists()  # refused before anything was made
    config.write_text(f"val: folder:{tmp_path / 'held-out'}\n")  # an absolute path; train checks too
    assert main(["train", "none", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: val: 'folder:{tmp_path / 'held-out'}': no {tmp_path / 'held-out'};" in err
    assert "working directory" not in err


def test_a_flag_or_the_folder_itself_satisfies_the_check(tmp_path, monkeypatch):
    from augsearch.options import check_paths
    from augsearch.proof.compare import CompareConfig
    from augsearch.search.config import RunConfig

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mine.yaml"
    config.write_text("dataset: folder:pictures/train\nval: folder:~/../no-such-folder-anywhere\n")
    check_paths(RunConfig, file=config, overrides={"dataset": "digits", "val": "digits"})  # the flags win
    check_paths(RunConfig, file=None, overrides={"dataset": "folder:pictures/train"})  # flags: data.py says it
    with pytest.raises(ConfigError, match=re.escape("val: 'folder:~/../no-such-folder-anywhere': no ~/../no-such")):
        check_paths(CompareConfig, file=config, overrides={"dataset": "digits", "val": None})
    (tmp_path / "pictures" / "train").mkdir(parents=True)
    with pytest.raises(ConfigError, match="val:"):  # the dataset is there now; val is still missing
        check_paths(RunConfig, file=config, overrides={})


def test_the_folder_experiment_says_where_its_images_go(tmp_path, capsys, monkeypatch):
    experiment = Path(__file__).resolve().parent.parent / "experiments" / "reduced-cifar10-folder-cpu.yaml"
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-c", str(experiment)]) == 2
    err = capsys.readouterr().err
    assert f"{experiment}: dataset: 'folder:data/reduced-cifar10/train': no data/reduced-cifar10/train" in err
    assert "--dataset folder:PATH" in err and not (tmp_path / "runs").exists()
