"""The Ray cluster of one run: a local one that goes away with its driver, or an existing one
(``--address``) reached with its token.

Ray ties the processes ``ray.init`` starts to the driver only loosely: after a ``kill -9`` of the
driver its workers keep running tasks for seconds and its agents live on for a minute. So a local
cluster keeps its files in a directory of its own, and a reaper, a small process in a session of
its own (a Ctrl-C in the terminal does not reach it), kills every process of the driver's session
that holds a file there once the driver closes its pipe or dies. This file is also the reaper's
script, so it imports nothing but the standard library at the top.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

RAY_TEMP_DIR = "/tmp/augsearch-ray"  # Ray's sockets need a short path; one bounded place, a folder per run


@contextmanager
def connected(address: str | None, *, object_store_memory: int) -> Iterator[None]:
    """``ray.init`` for one run and ``ray.shutdown`` after it: on the cluster at ``address``, or
    on a new local cluster whose processes all end with this block or with this process."""
    import ray

    with ExitStack() as stack:
        if address:
            _connect(address)
        else:
            folder = stack.enter_context(_reaped())
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=True, _temp_dir=folder, object_store_memory=object_store_memory)
        stack.callback(ray.shutdown)
        yield


@contextmanager
def _reaped() -> Iterator[str]:
    """A new folder for a local cluster's files; the processes that hold a file there are killed
    when this block ends or this process dies, whichever comes first. The folder goes with them
    when the block ends without an error (Ctrl-C included), and stays, with Ray's logs, after one."""
    folder = f"{RAY_TEMP_DIR}/{os.getpid()}-{uuid.uuid4().hex[:6]}"
    failed = True
    if not os.path.isdir("/proc"):  # the reaper finds the processes there (Linux); elsewhere Ray's own ties
        yield folder
        return
    reaper = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), folder, str(os.getsid(0))],
                              stdin=subprocess.PIPE, start_new_session=True)
    try:
        yield folder
        failed = False
    except KeyboardInterrupt:
        failed = False
        raise
    finally:
        reaper.stdin.close()  # the same end of file the kernel gives the reaper when this process dies
        with suppress(subprocess.TimeoutExpired):  # it takes well under a second; a run's end never hangs on it
            reaper.wait(timeout=10)
        if not failed:
            shutil.rmtree(folder, ignore_errors=True)


def reap(folder: str, session: int) -> None:
    """The reaper: wait for the end of the driver's pipe, then kill the processes of ``session``
    that hold a file in ``folder`` until none is left (one that was starting during a sweep is
    caught by the next), for at most about 5 s (one stuck in the kernel dies when it comes back)."""
    driver = os.getppid()  # not to be killed at the end of a run, should it keep a Ray log open
    sys.stdin.buffer.read()
    for _ in range(50):
        found = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                 if pid != driver and _holds(pid, session, folder)]
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not found:
            return
        time.sleep(0.1)


def _holds(pid: int, session: int, folder: str) -> bool:
    """Whether process ``pid`` belongs to ``session`` and has a file in ``folder`` open: what
    every process of a local Ray cluster does (its logs), whatever it calls itself."""
    try:
        return os.getsid(pid) == session and any(
            os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder + "/") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # gone meanwhile, or not ours to look into
        return False


def _connect(address: str) -> None:
    """``ray.init`` on an existing cluster, with a token when one is at hand: ``ray start`` turns
    token authentication on when a token exists, but ``ray.init(address=...)`` sends none unless
    RAY_AUTH_MODE says so. A cluster without authentication ignores the token."""
    import ray

    from augsearch.errors import AugsearchError, first_line

    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(token_file)):
        os.environ["RAY_AUTH_MODE"] = "token"
        ray._raylet.Config.initialize("")  # Ray read its config at import; ray.init does this itself for local clusters
    # Ray retries a refused token for 20 s (a window meant for a restarting head), a line of log each time
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "5")
    check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except Exception as err:  # any way ray.init fails is one line for the user
        if _refused_token(err):
            raise AugsearchError(
                f"the Ray cluster at {address} refused this driver's token: put the cluster's token (`ray "
                "get-auth-token` on its head prints it) in RAY_AUTH_TOKEN, in a file named by RAY_AUTH_TOKEN_PATH "
                "or in ~/.ray/auth_token, and leave RAY_AUTH_MODE unset or 'token'") from None
        raise AugsearchError(f"cannot connect to the Ray cluster at {address}: {first_line(err)}") from None


def check_reachable(address: str) -> None:
    """Refuse an address where nothing listens, in seconds: else Ray waits a minute and exits the
    process. (``auto`` and ``ray://`` addresses are left to Ray.)"""
    from augsearch.errors import AugsearchError

    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise AugsearchError(f"no Ray cluster answers at {address} ({err.strerror or err}): start one with "
                             f"`ray start --head --port {port}` there, or fix --address") from None


def _refused_token(err: BaseException | None) -> bool:
    """Whether ``err`` or its causes are Ray's token authentication saying no."""
    while err is not None:
        if type(err).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


if __name__ == "__main__":
    reap(sys.argv[1], int(sys.argv[2]))
