"""Pictures of policies: sample grids, op sweeps and search reports.

matplotlib is imported only when a report is written, so grids and sweeps work without it.
"""

from augsearch.viz.grid import sample_grid
from augsearch.viz.report import write_report
from augsearch.viz.sweep import sweep_sheet

__all__ = ["sample_grid", "sweep_sheet", "write_report"]
