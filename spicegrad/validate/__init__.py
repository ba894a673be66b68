"""The validator: twin vs ngspice vs an independent reference integration, with reports and
certificates that gate training.

    from spicegrad.validate import load_cases, run_suite, write_report, require_certified
"""

from .cases import Case, CaseError, load_cases
from .certificates import UnvalidatedConfigError, require_certified
from .engine import dt_sweep, run_case
from .fanout import SchedulerError, run_suite
from .report import write_report

__all__ = [
    "Case",
    "CaseError",
    "SchedulerError",
    "UnvalidatedConfigError",
    "dt_sweep",
    "load_cases",
    "require_certified",
    "run_case",
    "run_suite",
    "write_report",
]
