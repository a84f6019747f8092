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

from augsearch.errors import ConfigError, first_line


class WorkDir:
    """Paths, the lock and atomic writes of one job directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.yaml")
    lock_file = property(lambda self: self.path / ".lock")

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
