"""Live views of a search, read from the run directory's ``trials.jsonl``: the progress display,
and TensorBoard scalars of each trial (``--tensorboard``).

It watches the file rather than the engine, so it shows the same thing whether the splits
run in this process or on a Ray cluster. On a terminal it draws bars; when stderr is a log (a
pipe, nohup, CI, a cluster job) it prints a line per split at every tenth of its trials, and when
a split starts scoring, so the log shows the phases as they happen.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from augsearch.loggers import Scalars
from augsearch.search.rundir import RunDir, RunDirError, Trial


class Progress:
    """Per split: trials done, best score so far and an ETA; nothing when ``quiet``."""

    def __init__(self, run: RunDir, *, folds: int, per_split: int, quiet: bool = False, interval: float = 0.5,
                 console: Console | None = None, first: str = "preparing each split (its proxy) first") -> None:
        self.run, self.folds, self.per_split, self.quiet, self.interval = run, folds, per_split, quiet, interval
        self.first = first  # what happens before the first trial is recorded
        self.console = console or Console(stderr=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: RichProgress | None = None
        self._logged: dict[int, int] = {}  # split -> trials at its last log line
        self._start = time.perf_counter()

    def __enter__(self) -> Progress:
        if self.quiet:
            return self
        if self.console.is_terminal:
            self._bars = RichProgress(TextColumn("split {task.fields[split]}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("best {task.fields[best]}"),
                                      TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(),
                                      TimeRemainingColumn(), console=self.console)
            self._tasks = [self._bars.add_task("", total=self.per_split, split=k, best="-", failed=0)
                           for k in range(self.folds)]
            self._bars.start()
        else:
            self._log(f"{self.folds} split(s) x {self.per_split} trials: {self.first}")
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _refresh(self, *, final: bool = False) -> None:
        try:
            trials = self.run.trials()
        except RunDirError:  # the search itself reports a corrupt record; the display just waits
            return
        for k in range(self.folds):
            mine = [t for t in trials if t.split == k]
            if self._bars is not None:
                self._bars.update(self._tasks[k], completed=len(mine), best=_best(mine), failed=_failed(mine))
            else:
                self._log_split(k, mine, final=final)

    def _log_split(self, k: int, mine: list[Trial], *, final: bool) -> None:
        step = max(1, self.per_split // 10)
        last = self._logged.get(k, 0)
        if mine and k not in self._logged:
            self._log(f"split {k}: scoring candidates")
        if mine and (len(mine) // step > last // step or (final and len(mine) != last) or k not in self._logged):
            stopped = sum(1 for t in mine if t.metrics.get("stopped_early"))
            early = f", stopped early {stopped}" if stopped else ""
            self._log(f"split {k}: {len(mine)}/{self.per_split} trials, best {_best(mine)}, failed {_failed(mine)}"
                      f"{early}")
            self._logged[k] = len(mine)

    def _log(self, text: str) -> None:
        self.console.print(f"[{time.perf_counter() - self._start:7.1f} s] {text}", highlight=False, soft_wrap=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._refresh()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.quiet:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._refresh(final=True)
        if self._bars is not None:
            self._bars.stop()


def _best(trials: list[Trial]) -> str:
    scores = [t.score for t in trials if t.ok]
    return f"{max(scores):.4f}" if scores else "-"


def _failed(trials: list[Trial]) -> int:
    return sum(1 for t in trials if not t.ok)


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
