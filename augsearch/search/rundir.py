"""The run directory is the state of a search: everything finished is on disk, appended as it
completes, so ``--resume`` and the report read the directory and nothing else.

Layout: ``config.yaml``, ``trials.jsonl`` (one line per evaluated candidate),
``proxies/split{k}.json`` and ``.pt`` (training metrics and weights), ``policy.yaml``,
``summary.json``, and ``.lock``, which a working process holds (``flock``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from augsearch.errors import ConfigError
from augsearch.search.config import RunConfig, read_config_file, resolve


class RunDir:
    """Paths and records of one run directory; safe to use from several processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.yaml")
    trials_file = property(lambda self: self.path / "trials.jsonl")
    policy_file = property(lambda self: self.path / "policy.yaml")
    summary_file = property(lambda self: self.path / "summary.json")
    lock_file = property(lambda self: self.path / ".lock")

    def proxy_metrics(self, split: int) -> Path:
        return self.path / "proxies" / f"split{split}.json"

    def proxy_weights(self, split: int) -> Path:
        return self.path / "proxies" / f"split{split}.pt"

    # -- creating and resuming
    def create(self, cfg: RunConfig) -> None:
        """Start a new run here; refuses a directory that already holds a run."""
        if self.config_file.exists():
            raise ConfigError(f"{self.path} already holds a run: continue it with --resume {self.path} "
                              "or choose another --out")
        (self.path / "proxies").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def load_config(self) -> RunConfig:
        if not self.config_file.exists():
            raise ConfigError(f"{self.path} is not a run directory (no config.yaml)")
        return resolve(overrides=read_config_file(self.config_file))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory for this process; a second live run into it is refused. The kernel
        releases the lock when the process dies, so a crashed run leaves nothing to clean up."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise ConfigError(f"{self.path} is in use by another augsearch run ({handle.read().strip()}); "
                                  "wait for it or choose another --out") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{socket.gethostname()} {os.getpid()}\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- records
    def append_trial(self, record: dict[str, Any]) -> None:
        """Append one trial as one write, so parallel writers never interleave lines."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        fd = os.open(self.trials_file, os.O_CREAT | os.O_APPEND | os.O_WRONLY)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def trials(self) -> list[dict[str, Any]]:
        """Every complete trial line (a half-written last line from a crash is ignored)."""
        if not self.trials_file.exists():
            return []
        out = []
        for line in self.trials_file.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def write_json(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

