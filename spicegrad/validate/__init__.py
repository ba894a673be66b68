"""The validator: twin vs ngspice vs an independent reference integration, with reports and
certificates that gate training.

    from spicegrad.validate import load_cases, run_suite, write_report, require_certified
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".cases": ("Case", "CaseError", "load_cases"),
    ".certificates": ("UnvalidatedConfigError", "require_certified"),
    ".engine": ("dt_sweep", "run_case"),
    ".fanout": ("SchedulerError", "run_suite"),
    ".report": ("write_report",),
})
