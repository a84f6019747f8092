#!/usr/bin/env bash
# Install augsearch into .venv (pinned by constraints.txt), lint it and run the whole test suite, then the
# imgaug export's tests in their own environment (imgaug 0.4.0 needs numpy < 2: tests/run_imgaug.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
.venv/bin/ruff check augsearch tests benchmarks  # the lint step: pyproject.toml's [tool.ruff]
.venv/bin/python -m pytest "$@"
bash tests/run_imgaug.sh
