"""The Python blocks of the README and docs/ run as written: every block is marked, either
``<!-- tested -->`` (it runs, in a fresh interpreter, in a directory holding a small generated image
folder (``data/train``, ``data/val``: mixed sizes and modes), ``cat.jpg`` and
``runs/my-search/policy.yaml``, offline) or ``<!-- fragment: why -->`` (a part of a larger
program, which does not claim to run). A ``print(...)`` line's trailing comment is the output it
must print (``...`` at its end: a prefix of it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import augsearch

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SECTION = "## Use the found policy"
MARK = "<!-- tested -->"
FRAGMENT = "<!-- fragment: "


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:end if end >= 0 else None]


def marked_blocks() -> list[str]:
    return re.findall(re.escape(MARK) + r"\n```python\n(.*?)\n```", section(), flags=re.DOTALL)


def expected_output(block: str) -> list[str]:
    """The trailing comments of the block's ``print(...)`` lines."""
    return [line.split("#", 1)[1].strip().removesuffix("...").strip()
            for line in block.splitlines() if line.lstrip().startswith("print(") and "#" in line]


def test_every_python_block_of_the_section_is_tested():
    blocks = marked_blocks()
    assert len(blocks) == 4  # torchvision, timm, Lightning, Hugging Face datasets
    assert section().count("```python") == len(blocks)
    assert all(expected_output(block) for block in blocks)


def python_blocks() -> list[tuple[str, str, str]]:
    """(where, its mark, its code) of every Python block of the README and docs/."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        blocks = re.finditer(r"(?:^(<!--[^\n]*-->)\n)?^```python\n(.*?)\n```", text, flags=re.DOTALL | re.MULTILINE)
        for match in blocks:
            line = text.count("\n", 0, match.start(2))
            found.append((f"{page.name}:{line}", match.group(1) or "", match.group(2)))
    return found


TESTED = [(where, code) for where, mark, code in python_blocks() if mark == MARK]


def test_every_python_block_says_whether_it_runs():
    unmarked = [where for where, mark, _ in python_blocks() if mark != MARK and not mark.startswith(FRAGMENT)]
    assert unmarked == [], "mark these <!-- tested --> (and make them run) or <!-- fragment: why -->"
    assert len(TESTED) >= 9


def test_expected_output_is_read_from_print_comments():
    assert expected_output("x = 1  # not printed\nprint(x)  # 1\n    print(y)  # Policy(a, ...") == ["1", "Policy(a,"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Two classes of 10 images each per split, in the sizes and modes a real folder holds."""
    root = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    modes = ["RGB", "L", "RGBA", "P", "RGB"]
    for split in ("train", "val"):
        for label in ("cats", "dogs"):
            folder = root / "data" / split / label
            folder.mkdir(parents=True)
            for i in range(10):
                pixels = rng.integers(0, 256, (24 + 3 * i, 40 - i, 3), dtype=np.uint8)
                Image.fromarray(pixels).convert(modes[i % len(modes)]).save(folder / f"{i}.png")
    augsearch.load_policy("fast-aa/reduced-cifar10").save(root / "runs" / "my-search" / "policy.yaml")
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(root / "cat.jpg")
    return root


@pytest.mark.parametrize("block", [code for _, code in TESTED], ids=[where for where, _ in TESTED])
def test_the_block_runs_as_written(block, workdir):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HF_HOME": str(workdir / "hf"),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run([sys.executable, "-c", block], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for expected in expected_output(block):
        assert expected in done.stdout, f"{expected!r} not in the output:\n{done.stdout}"
