"""The run directory is the state of a search: everything finished is on disk, appended as it
completes, so ``--resume``, the progress display, the summary and the report read the directory
and nothing else, through the one trial-record schema here (:class:`Trial`).

Layout: ``config.yaml``, ``trials.jsonl`` (one line per evaluated candidate),
``proxies/split{k}.json`` and ``.pt`` (training metrics and weights), ``policy.yaml``,
``summary.json``, ``report.html`` with ``report/``, ``ray/`` (Ray Tune's own logs, when the Ray
engine ran), and ``.lock``, which a working process holds (``flock``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from augsearch.errors import AugsearchError, ConfigError, PolicyError
from augsearch.files import from_config
from augsearch.jobs.workdir import WorkDir, complete_lines, drop_torn_tail
from augsearch.policy import PolicyData


class RunDirError(AugsearchError):
    """A file of a run directory is corrupt; the message names the file and line."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Trial:
    """One evaluated candidate: where it ran (split, repeat, trial number), what the sampler
    proposed (``params``), the candidate itself as a policy config of any kind, and its score
    with the objective's metrics; a failed trial has ``error`` and no score."""

    split: int
    repeat: int
    trial: int
    params: dict[str, Any]
    candidate: dict[str, Any] | None
    score: float | None
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    traceback: str | None = None

    def __post_init__(self) -> None:
        """No non-finite number is ever recorded (JSON has none, so the file could not be read back):
        a candidate whose score is not finite diverged, a failed trial with that reason."""
        if self.score is not None and not math.isfinite(self.score):
            object.__setattr__(self, "error", self.error or f"diverged: its score was {self.score}; lower --lr")
            object.__setattr__(self, "score", None)
        if not all(math.isfinite(v) for v in self.metrics.values() if isinstance(v, float)):
            object.__setattr__(self, "metrics", {k: v for k, v in self.metrics.items()
                                                 if not isinstance(v, float) or math.isfinite(v)})

    @property
    def ok(self) -> bool:
        return self.error is None and self.score is not None

    def to_json(self) -> str:
        record = {k: v for k, v in asdict(self).items() if not (k == "traceback" and v is None)}
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def from_record(cls, record: Any) -> Trial:
        """A record read back, checked field by field; raises ``ValueError`` saying what is wrong."""
        if not isinstance(record, dict):
            raise ValueError("expected a JSON object")
        unknown = set(record) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
        checks = {
            "split": (_is_count, "a count"), "repeat": (_is_count, "a count"), "trial": (_is_count, "a count"),
            "params": (lambda v: isinstance(v, dict), "an object"),
            "candidate": (lambda v: v is None or isinstance(v, dict), "an object or null"),
            "score": (lambda v: v is None or (_is_number(v) and math.isfinite(v)), "a finite number or null"),
            "error": (lambda v: v is None or isinstance(v, str), "text or null"),
            "metrics": (lambda v: isinstance(v, dict) and all(_is_number(x) for x in v.values()),
                        "an object of numbers"),
            "seconds": (_is_number, "a number"),
            "traceback": (lambda v: v is None or isinstance(v, str), "text or null"),
        }
        for name, (ok, what) in checks.items():
            if name in record and not ok(record[name]):
                raise ValueError(f"{name!r} must be {what}, got {record[name]!r:.60}")
        for name in ("split", "repeat", "trial", "params", "candidate", "score"):
            if name not in record:
                raise ValueError(f"missing field {name!r}")
        if (record.get("error") is None) == (record["score"] is None):
            raise ValueError("a trial has either a score or an error")
        if record.get("error") is None and record["candidate"] is None:
            raise ValueError("a scored trial needs its candidate")
        trial = cls(**record)
        trial.policy()
        return trial

    def policy(self) -> PolicyData | None:
        """The candidate as a policy object (``None`` for a failed trial that built none)."""
        if self.candidate is None:
            return None
        try:
            return from_config(self.candidate)
        except PolicyError as err:
            raise ValueError(f"candidate: {err}") from None


def proxy_name(split: int, suffix: str) -> str:
    """The run-directory name of a split's proxy file: ``.pt`` weights, ``.json`` metrics."""
    return f"proxies/split{split}{suffix}"


class Store(Protocol):
    """Where a search task reads what is finished and records what it finishes: the run directory
    itself (in-process), or a channel to the driver, which alone writes the directory (Ray), so a
    cluster needs no shared filesystem. Names are paths inside the run directory."""

    def trials(self) -> list[Trial]: ...

    def append_trial(self, trial: Trial) -> None: ...

    def read_bytes(self, name: str) -> bytes | None: ...

    def write_bytes(self, name: str, data: bytes) -> None: ...


class RunDir(WorkDir):
    """Paths and records of one search's directory; safe to use from several processes."""

    trials_file = property(lambda self: self.path / "trials.jsonl")
    policy_file = property(lambda self: self.path / "policy.yaml")
    summary_file = property(lambda self: self.path / "summary.json")
    holdout_file = property(lambda self: self.path / "holdout.json")

    def proxy_metrics(self, split: int) -> Path:
        return self.path / proxy_name(split, ".json")

    def proxy_weights(self, split: int) -> Path:
        return self.path / proxy_name(split, ".pt")

    def create(self, config: Mapping[str, Any]) -> None:
        """Start a new run here; refuses a directory that already holds a run."""
        if self.config_file.exists():
            raise ConfigError(f"{self.path} already holds a run: continue it with --resume {self.path} "
                              "or choose another --out")
        (self.path / "proxies").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False))

    def append_trial(self, trial: Trial) -> None:
        self.append_line(self.trials_file, trial.to_json())

    def trials(self) -> list[Trial]:
        """Every trial recorded. A last line without its newline is a write that a crash cut
        short, and is not a record; any other line that is not a valid record is an error."""
        out: dict[tuple[int, int, int], Trial] = {}
        for number, line in enumerate(complete_lines(self.trials_file), 1):
            if not line.strip():
                continue
            try:
                trial = Trial.from_record(json.loads(line))
            except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                raise RunDirError(f"{self.trials_file}:{number}: corrupt trial record ({err})") from None
            out.setdefault((trial.split, trial.repeat, trial.trial), trial)  # the first record of a key counts
        return list(out.values())

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_bytes(self, name: str, data: bytes) -> None:
        self.write_whole(self.path / name, data)

    def drop_torn_tail(self) -> Path | None:
        return drop_torn_tail(self.trials_file)
