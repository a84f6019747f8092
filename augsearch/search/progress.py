"""A live terminal view of a search, read from the run directory's ``trials.jsonl``.

It watches the file rather than the engine, so it shows the same thing whether the splits
run in this process or on a Ray cluster.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from augsearch.search.rundir import RunDir, RunDirError


class Progress:
    """Per split: trials done, best score so far and an ETA; nothing when ``quiet``."""

    def __init__(self, run: RunDir, *, folds: int, per_split: int, quiet: bool = False, interval: float = 0.5) -> None:
        self.run, self.folds, self.per_split, self.quiet, self.interval = run, folds, per_split, quiet, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: RichProgress | None = None

    def __enter__(self) -> Progress:
        if self.quiet:
            return self
        self._bars = RichProgress(TextColumn("split {task.fields[split]}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("best {task.fields[best]}"), TextColumn("failed {task.fields[failed]}"),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._tasks = [self._bars.add_task("", total=self.per_split, split=k, best="-", failed=0)
                       for k in range(self.folds)]
        self._bars.start()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _refresh(self) -> None:
        if self._bars is None:
            return
        try:
            trials = self.run.trials()
        except RunDirError:  # the search itself reports a corrupt record; the display just waits
            return
        for k, task in enumerate(self._tasks):
            mine = [t for t in trials if t.split == k]
            scores = [t.score for t in mine if t.ok]
            failed = sum(1 for t in mine if not t.ok)
            self._bars.update(task, completed=len(mine), best=f"{max(scores):.4f}" if scores else "-", failed=failed)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._refresh()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bars is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._refresh()
        self._bars.stop()
