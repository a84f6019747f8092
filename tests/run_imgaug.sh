#!/usr/bin/env bash
# Test the imgaug exporter in its own environment, .venv-imgaug: imgaug 0.4.0 needs numpy < 2, so the
# environment is pinned by constraints-imgaug.txt (a full pin list, not an addition to constraints.txt).
# The import check first makes sure the tests run there instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-imgaug
.venv-imgaug/bin/python -m pip install -q --upgrade pip
.venv-imgaug/bin/python -m pip install -q -c constraints-imgaug.txt -e ".[imgaug,test]"
.venv-imgaug/bin/python -c "
import imgaug, numpy, torch
from augsearch.export.imgaug import import_imgaug
import_imgaug()
print(f'imgaug {imgaug.__version__}, numpy {numpy.__version__}, torch {torch.__version__}:',
      'tensor from numpy sums to', torch.from_numpy(numpy.ones(3)).sum().item())
"
.venv-imgaug/bin/python -m pytest tests/test_export_imgaug.py "$@"
