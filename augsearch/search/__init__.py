"""Policy search: density matching over a space of policies, on Ray Tune or in-process."""

from augsearch.search.config import RunConfig, resolve
from augsearch.search.run import search
from augsearch.search.spaces import SPACES

__all__ = ["SPACES", "RunConfig", "resolve", "search"]
