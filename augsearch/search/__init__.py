"""Policy search: a space of candidates, an objective that scores them, an engine that runs the
splits (Ray Tune or in-process), and the run directory that holds everything.

The names below are imported on first use (:mod:`augsearch.lazy`), so the ``augsearch run``
command module loads without Ray and Optuna until the command runs.
"""

from typing import TYPE_CHECKING

from augsearch.lazy import exports

if TYPE_CHECKING:
    from augsearch.search.config import RunConfig, resolve
    from augsearch.search.objectives import OBJECTIVES
    from augsearch.search.run import search
    from augsearch.search.spaces import SPACES

__getattr__, __dir__ = exports(__name__)

__all__ = ["OBJECTIVES", "SPACES", "RunConfig", "resolve", "search"]
