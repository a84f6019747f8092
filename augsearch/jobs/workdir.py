"""A directory that holds the state of one job (a search, a training run, a comparison): files are
written whole or appended a line at a time, and a live process holds it with a lock the kernel
releases when the process dies, so a crash leaves nothing to clean up and ``--resume`` reads the
directory and nothing else."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from augsearch.errors import ConfigError, PolicyError, first_line
from augsearch.formats import YAML_SUFFIXES, parse_text, read_text


class WorkDir:
    """Paths, the lock and atomic writes of one job directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.yaml")
    lock_file = property(lambda self: self.path / ".lock")
    sealed_file = property(lambda self: self.path / "sealed.json")

    def seal(self, *paths: Path) -> None:
        """Record what the files that define this job hold as it starts (its config, its policies), so
        that a resume refuses files edited since: half a run under one config and half under another
        measures nothing. Files inside the directory are named relative to it (it may move)."""
        self.write_json(self.sealed_file, {self._name(p): _content(p) for p in paths})

    def check_sealed(self) -> None:
        """Refuse, saying what changed, to continue from a file edited since :meth:`seal`."""
        if not self.sealed_file.exists():
            return  # a job begun before augsearch sealed its files
        for name, then in self.read_json(self.sealed_file).items():
            path = self.path / name if not Path(name).is_absolute() else Path(name)
            now = _content(path)
            if now != then:
                raise ConfigError(f"{path}: edited since this job started ({_changes(then, now)}); put it back, "
                                  "or start anew with another --out")

    def _name(self, path: Path) -> str:
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.path.resolve()))
        except ValueError:
            return str(path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory for this process; a second live process is refused. The lock file
        exists only while a process holds it, and a start that wrote nothing leaves no directory."""
        existed = self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"{self.path}: cannot create the directory ({err.strerror})") from None
        fd = self._lock()
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
            yield
        finally:
            self.lock_file.unlink(missing_ok=True)  # while still held: a waiter then finds a new file
            os.close(fd)
            if not existed:
                with contextlib.suppress(OSError):
                    self.path.rmdir()  # only if the start wrote nothing

    def _lock(self) -> int:
        """The descriptor of the lock file, locked; retried when the holder we waited on removed it."""
        while True:
            try:
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise ConfigError(f"{self.path}: cannot write here ({err.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip()
                os.close(fd)
                raise ConfigError(f"{self.path} is in use by another augsearch run ({holder}); "
                                  "wait for it or choose another --out") from None
            try:
                if os.fstat(fd).st_ino == os.stat(self.lock_file).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)

    def write_whole(self, path: Path, data: bytes) -> None:
        """Write a file in one rename, so a reader (or a resume after a crash) never sees half of it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def write_json(self, path: Path, data: Any) -> None:
        self.write_whole(path, json.dumps(data, indent=1).encode())

    def read_json(self, path: Path) -> Any:
        """A JSON file of the directory, or a one-line error naming it."""
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: missing") from None
        except (OSError, ValueError) as err:  # ValueError: bad JSON or not UTF-8
            raise ConfigError(f"{path}: unreadable ({first_line(err)})") from None

    def append_line(self, path: Path, line: str) -> None:
        """Append one line as one write, so parallel writers never interleave lines."""
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def _content(path: Path) -> Any:
    """A YAML or JSON file's data (so that layout and comments may change), ``None`` when it is gone."""
    try:
        data = parse_text(read_text(path), file=str(path), yaml_syntax=path.suffix.lower() in YAML_SUFFIXES)
        return {"data": json.loads(json.dumps(data, default=str))}  # as the seal reads back (dates as text)
    except PolicyError as err:
        return None if not path.exists() else {"unreadable": first_line(err)}


def _changes(then: Any, now: Any) -> str:
    """What differs, field by field where both are mappings: ``epochs: 4 -> 7``."""
    if now is None or then is None:
        return "it is gone" if now is None else "it was not there"
    old, new = then.get("data"), now.get("data")
    if isinstance(old, dict) and isinstance(new, dict):
        fields = [f"{k}: {old.get(k, '(none)')!s:.40} -> {new.get(k, '(none)')!s:.40}"
                  for k in sorted(set(old) | set(new), key=str) if old.get(k) != new.get(k)]
        return ", ".join(fields[:4]) + (f" and {len(fields) - 4} more" if len(fields) > 4 else "")
    return "its content differs"


def complete_lines(path: Path) -> list[bytes]:
    """The lines of ``path`` that end with a newline: what follows the last one is a write a crash
    cut short, not a record."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return data.split(b"\n")[:-1]


def drop_torn_tail(path: Path) -> Path | None:
    """Move a torn last line to ``<file>.torn`` (kept, not lost) and cut it from ``path``, so that
    appended records start on a line of their own; returns where it went, if there was one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if not data or data.endswith(b"\n"):
        return None
    keep = data.rfind(b"\n") + 1
    aside = path.with_name(path.name + ".torn")
    with open(aside, "ab") as torn:
        torn.write(data[keep:] + b"\n")
        torn.flush()
        os.fsync(torn.fileno())
    os.truncate(path, keep)
    return aside
