"""Ray runs that stop when the user stops them, die with their driver and reach a cluster that
asks for a token: real drivers (``python -m augsearch run``) and real Ray processes, each bounded
in time and killed by pid on the way out, whatever happens."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from augsearch.jobs.raycluster import RAY_TEMP_DIR

pytest.importorskip("ray")
pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc")

TINY = ["--dataset", "digits", "--subset", "300", "--epochs", "1", "--batch-size", "64", "--folds", "1",
        "--top-n", "1", "--num-sub-policies", "2", "--num-ops", "2", "--draws", "1", "--quiet", "--no-report"]
# random trials, slow enough (1,000 images, 20 draws each) that a run is still going when it is stopped
LONG = ["--engine", "ray", *TINY, "--subset", "1000", "--draws", "20", "--trials", "150", "--startup-trials", "150"]


def clean_env(**changes: str) -> dict[str, str]:
    """This environment without Ray's settings (an earlier in-process run may have set some)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, **changes}


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def leftovers(driver: int) -> dict[int, str]:
    """Live processes of the run started as ``driver`` (pid -> command line): Ray's processes stay
    in the driver's session, and the reaper names the local cluster's folder."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] == "Z":  # dead, waiting for its parent
            continue
        if int(fields[3]) == driver or f"{RAY_TEMP_DIR}/{driver}-" in cmdline:
            found[int(entry.name)] = cmdline[:100]
    return found


def assert_ends(driver: int, timeout: float = 10) -> None:
    """Every process of the run started as ``driver`` is gone within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while left := leftovers(driver):
        assert time.monotonic() < deadline, f"still running {timeout:g} s on: {left}"
        time.sleep(0.1)


@pytest.fixture
def drivers() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start drivers in sessions of their own (a terminal's job); kill whatever is left of them."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], stderr: Path) -> subprocess.Popen:
        with open(stderr, "wb") as err:
            # a terminal's job: Ctrl-C raises, even when these tests run as a background job of a script,
            # whose children inherit SIGINT ignored (as a non-interactive shell's `cmd &` does)
            p = subprocess.Popen([sys.executable, "-m", "augsearch", "run", *args], env=clean_env(),
                                 stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        started.append(p)
        return p

    yield start
    for p in started:
        for pid in [p.pid, *leftovers(p.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait(timeout=10)


def test_ctrl_c_stops_a_ray_run_at_once_and_says_how_to_resume(tmp_path, drivers):
    out, err = tmp_path / "run", tmp_path / "stderr"
    driver = drivers([*LONG, "--out", str(out)], err)
    wait_for(lambda: lines(out / "trials.jsonl") >= 3, 90, "the first trials")
    os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    start = time.monotonic()
    try:  # seconds, not the minutes a whole split takes
        code = driver.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the driver still ran 30 s after Ctrl-C; its stderr: {err.read_text()[-2000:]}")
    print(f"the driver ended {time.monotonic() - start:.1f} s after Ctrl-C")
    assert code == 130
    assert "--resume" in err.read_text()
    assert_ends(driver.pid)
    assert lines(out / "trials.jsonl") < 150


def test_a_killed_driver_takes_its_workers_along_and_the_resume_has_no_duplicates(tmp_path, drivers):
    out = tmp_path / "run"
    trials = out / "trials.jsonl"
    driver = drivers([*LONG, "--out", str(out)], tmp_path / "stderr")
    wait_for(lambda: lines(trials) >= 3, 90, "the first trials")
    driver.kill()
    driver.wait(timeout=10)
    assert_ends(driver.pid)
    after = lines(trials)
    time.sleep(1)
    assert lines(trials) == after < 150  # nobody writes any more
    resume = drivers(["--resume", str(out), "--quiet", "--no-report"], tmp_path / "stderr2")
    assert resume.wait(timeout=120) == 0, (tmp_path / "stderr2").read_text()
    keys = [(r["split"], r["repeat"], r["trial"]) for r in map(json.loads, trials.read_text().splitlines())]
    assert len(set(keys)) == 150 and len(keys) == 150
    assert_ends(resume.pid)


@pytest.fixture(scope="module")
def head() -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head on loopback, started the usual way (``ray start --head``) by a user whose
    ~/.ray/auth_token holds a token, so Ray turns token authentication on; yields its address and
    that user's environment, and stops the head by its pid."""
    home = Path(tempfile.mkdtemp(prefix="asr"))  # short: Ray's socket paths live under --temp-dir
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    env = clean_env(HOME=str(home))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = home / "head.log"
    with open(log, "wb") as f:
        head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                                 "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
                                 "--disable-usage-stats", "--include-dashboard", "false",
                                 "--temp-dir", str(home / "t")],
                                env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: b"Ray runtime started" in log.read_bytes() or head.poll() is not None, 90, "the head")
        assert head.poll() is None, log.read_text()[-2000:]
        assert "Token authentication is enabled" in log.read_text()
        yield f"127.0.0.1:{port}", env
    finally:
        head.terminate()
        try:
            head.wait(timeout=20)
        finally:
            try:
                os.killpg(head.pid, signal.SIGKILL)  # what the head's processes left behind
            except ProcessLookupError:
                pass
            head.wait(timeout=10)
            shutil.rmtree(home, ignore_errors=True)


def cluster_run(address: str, env: dict[str, str], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augsearch", "run", "--engine", "ray", *TINY, "--trials", "2",
                           "--startup-trials", "1", "--address", address, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=180)


def test_a_cluster_with_token_authentication_runs_the_search(head, tmp_path):
    address, env = head
    done = cluster_run(address, env, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert lines(tmp_path / "run" / "trials.jsonl") == 2
    assert (tmp_path / "run" / "policy.yaml").exists()


def test_a_wrong_token_is_one_line_that_says_what_to_set(head, tmp_path):
    address, env = head
    # one retry instead of Ray's default 5 s (augsearch's) of retrying a refused token
    done = cluster_run(address, {**env, "RAY_AUTH_TOKEN": "wrong", "RAY_gcs_server_port_wait_time_s": "1"},
                       tmp_path / "run")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"augsearch run: error: the Ray cluster at {address} refused this driver's token")
    assert "RAY_AUTH_TOKEN" in last and "Traceback" not in done.stderr


def test_no_cluster_at_the_address_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nobody listens once the socket is closed
    done = cluster_run(f"127.0.0.1:{port}", clean_env(), tmp_path / "run")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"augsearch run: error: no Ray cluster answers at 127.0.0.1:{port} (Connection "
                                   f"refused): start one with `ray start --head --port {port}` there, or fix --address")
    assert not (tmp_path / "run").exists()  # refused before anything was written
