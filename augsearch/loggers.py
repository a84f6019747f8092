"""TensorBoard scalars (``--tensorboard DIR``): a search's trials and a training run's epochs, written
with tensorboardX, which needs neither TensorFlow nor the tensorboard package to write; view them
with ``tensorboard --logdir DIR``. Like ``--quiet``, it is a way of watching a run, not part of
its configuration: a run's ``config.yaml`` does not hold it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from augsearch.errors import ConfigError
from augsearch.search.rundir import RunDir, RunDirError


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


class TrialScalars:
    """While a search runs, each trial ``trials.jsonl`` gains, as ``split{k}/score`` and
    ``split{k}/<metric>`` at step ``repeat * per_search + trial``. It watches the file, as the
    progress display does, so it works on both engines; on ``--resume`` the trials already there
    were written by the run that made them."""

    def __init__(self, run: RunDir, folder: Path | None, *, per_search: int, interval: float = 2.0) -> None:
        self.run, self.folder, self.per_search, self.interval = run, folder, per_search, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: set[tuple[int, int, int]] = set()
        self._scalars = Scalars(None)

    def __enter__(self) -> TrialScalars:
        if self.folder is not None:
            self._seen = {(t.split, t.repeat, t.trial) for t in self.run.trials()}
            self._scalars = Scalars(self.folder)
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._write_new()

    def _write_new(self) -> None:
        try:
            trials = self.run.trials()
        except RunDirError:  # the search itself reports a corrupt record
            return
        for t in trials:
            key = (t.split, t.repeat, t.trial)
            if key in self._seen:
                continue
            self._seen.add(key)
            values = {"score": t.score, **t.metrics, "seconds": t.seconds} if t.ok else {"failed": 1}
            self._scalars.write(values, step=t.repeat * self.per_search + t.trial, prefix=f"split{t.split}/")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._write_new()  # the last trials, also after Ctrl-C
        self._scalars.close()
