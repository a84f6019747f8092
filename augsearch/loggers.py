"""TensorBoard scalars (``--tensorboard DIR``): a search's trials and a training run's epochs, written
with tensorboardX, which needs neither TensorFlow nor the tensorboard package to write; view them
with ``tensorboard --logdir DIR``. Like ``--quiet``, it is a way of watching a run, not part of
its configuration: a run's ``config.yaml`` does not hold it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from augsearch.errors import ConfigError


def log_dir(path: str | Path | None) -> Path | None:
    """``path``, once it is clear that it can be written, before a run starts; it is made only
    when the run starts writing scalars, after its own checks, so a start that fails leaves nothing."""
    if path is None:
        return None
    folder = Path(path).expanduser()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--tensorboard {path}: cannot write here ({existing} is not a writable folder)")
    return folder


class Scalars:
    """An event file in ``folder`` (a new one per run and resume, as TensorBoard expects); every
    call does nothing when ``folder`` is ``None``."""

    def __init__(self, folder: Path | None) -> None:
        self._writer = None
        if folder is not None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(folder))

    def write(self, values: Mapping[str, Any], *, step: int, prefix: str = "") -> None:
        """The finite numbers of ``values`` as ``prefix + name`` at ``step``, flushed at once so that
        a live TensorBoard (and a crash) sees them."""
        if self._writer is None:
            return
        for name, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                self._writer.add_scalar(prefix + name, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
