"""Pictures of policies: sample grids, op sweeps and search reports.

matplotlib is imported only when a report is written, so grids and sweeps work without it; the
names below are imported on first use (:mod:`augsearch.lazy`), so the picture commands' module
loads without torch.
"""

from typing import TYPE_CHECKING

from augsearch.lazy import exports

if TYPE_CHECKING:
    from augsearch.viz.grid import sample_grid
    from augsearch.viz.report import write_report
    from augsearch.viz.sweep import sweep_sheet

__getattr__, __dir__ = exports(__name__)

__all__ = ["sample_grid", "sweep_sheet", "write_report"]
