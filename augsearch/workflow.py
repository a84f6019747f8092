"""``augsearch run`` as one function: a search, then (``--compare``) its comparison on held-out data,
then its report, each continued where an interrupted run stopped. The command only prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augsearch.proof.compare import compare, resolve_for_run
from augsearch.search.config import RunConfig, load_run_config
from augsearch.search.run import search
from augsearch.search.rundir import RunDir
from augsearch.viz.report import write_report


@dataclass(frozen=True)
class Outcome:
    """A finished run: its directory, the comparison's summary (``--compare``) and the report's path."""

    run: RunDir
    comparison: dict[str, Any] | None
    report: Path | None


def search_and_prove(cfg: RunConfig, *, resume: bool = False, quiet: bool = False, report: bool = True,
                     tensorboard: Path | None = None) -> Outcome:
    """Search as ``cfg`` says (or continue the run in ``cfg.out``), then compare the found policy
    with the controls when the run's own config asks for it, then write the report."""
    run = search(cfg, resume=resume, quiet=quiet, tensorboard=tensorboard)
    cfg = load_run_config(run.path)  # the run's own options: a resumed run keeps its --compare
    summary = None
    if cfg.compare:
        compare_cfg = resolve_for_run(run.path, cfg)
        summary = compare(compare_cfg, resume=(Path(compare_cfg.out) / "config.yaml").exists(), quiet=quiet)
    return Outcome(run, summary, write_report(run.path) if report else None)
