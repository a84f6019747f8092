"""Policy search: a space of candidates, an objective that scores them, an engine that runs the
splits (Ray Tune or in-process), and the run directory that holds everything."""

from augsearch.search.config import RunConfig, resolve
from augsearch.search.objectives import OBJECTIVES
from augsearch.search.run import search
from augsearch.search.spaces import SPACES

__all__ = ["OBJECTIVES", "SPACES", "RunConfig", "resolve", "search"]
