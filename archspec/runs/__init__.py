"""Run folders as a collection: list them (sweep trials included) and compare them (`archspec runs`).

A layer of its own between search (which knows a sweep folder's layout) and report (which lays the rows
out): `folders.py` reads one row per run folder, `compare.py` sets runs side by side, `plots.py` overlays
their curves.
"""

from archspec.runs.compare import Comparison, compare_runs
from archspec.runs.folders import RunSummary, list_runs

__all__ = ["Comparison", "RunSummary", "compare_runs", "list_runs"]
