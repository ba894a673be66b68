"""The validator: twin vs ngspice vs an independent reference integration, with reports and
certificates that gate training.

    from spicegrad.validate import load_cases, run_suite, write_report, require_certified
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names; imported on first use (spicegrad._lazy)
    from .cases import Case, CaseError, load_cases
    from .certificates import UnvalidatedConfigError, require_certified
    from .engine import dt_sweep, run_case
    from .fanout import SchedulerError, run_suite
    from .report import write_report

__getattr__, __dir__, __all__ = lazy_exports(__name__)
