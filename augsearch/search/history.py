"""The search history as an Optuna storage: ``RUN_DIR/optuna.journal``, one study per (split,
repeat), every trial with its parameters, score and metrics, the run's options as study
attributes. It is made from the run directory alone, by the driver, so ``optuna-dashboard
RUN_DIR/optuna.journal`` and ``optuna.visualization`` open any search, on any engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from augsearch.search.protocols import Space
from augsearch.search.rundir import Trial


def write_journal(path: Path, trials: Sequence[Trial], space: Space, options: Mapping[str, Any]) -> Path:
    """Write ``trials`` as a fresh journal at ``path`` (a former one is replaced)."""
    tmp = path.with_suffix(".journal.tmp")
    tmp.unlink(missing_ok=True)
    storage = JournalStorage(JournalFileBackend(str(tmp)))
    distributions = space.distributions()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for key in sorted({(t.split, t.repeat) for t in trials}):
        study = optuna.create_study(storage=storage, study_name=f"split{key[0]}-repeat{key[1]}", direction="maximize")
        for name, value in options.items():
            study.set_user_attr(name, value)
        for t in sorted((t for t in trials if (t.split, t.repeat) == key), key=lambda t: t.trial):
            state = optuna.trial.TrialState.COMPLETE if t.ok else optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(
                params=t.params, distributions=distributions, value=t.score if t.ok else None, state=state,
                user_attrs={"trial": t.trial, "seconds": t.seconds, **t.metrics,
                            **({"error": t.error} if t.error else {})}))
    tmp.replace(path)
    return path
