"""One exception hierarchy for spicegrad, and the exit code each kind of error gives the CLI.

Every error the project raises derives from :class:`SpicegradError`. Each class also keeps the
standard class callers already catch (``ValueError`` for bad input, ``RuntimeError`` for a
failed run), so ``except ValueError`` keeps working. The command line maps a class to an exit
status in :data:`EXIT_CODES`, and nowhere else:

=====  =========================================================================
code   meaning
=====  =========================================================================
0      success
1      a check ran and failed (a validation case, a twin-vs-ngspice verification)
2      usage or bad input (arguments, files, parameters, an uncertified twin)
3      training diverged (non-finite loss; the last good checkpoint is kept)
4      ngspice failed (not installed, a netlist error, a crashed or timed-out run)
130    interrupted (Ctrl-C)
=====  =========================================================================
"""

from __future__ import annotations


class SpicegradError(Exception):
    """Base of every error spicegrad raises on purpose."""


class InputError(SpicegradError, ValueError):
    """Bad input: an argument, a file, a parameter value. The message names the value and what
    would be allowed."""


class CheckFailed(SpicegradError, RuntimeError):
    """A check ran to the end and its result is a failure (not a bug, not bad input)."""


class UnvalidatedConfigError(InputError):
    """A twin configuration without a passing certificate was about to be used for training."""


class TrainingDiverged(SpicegradError, RuntimeError):
    """The loss became non-finite; the last good checkpoint is kept."""


class SimulatorError(SpicegradError, RuntimeError):
    """ngspice failed: it is missing, rejected a netlist, crashed or timed out."""


#: exit status of the ``spicegrad`` command for each error class (the most specific match wins)
EXIT_CODES: dict[type[BaseException], int] = {
    CheckFailed: 1,
    InputError: 2,
    UnvalidatedConfigError: 2,
    TrainingDiverged: 3,
    SimulatorError: 4,
    SpicegradError: 1,
    ValueError: 2,
    FileNotFoundError: 2,
    KeyboardInterrupt: 130,
    BrokenPipeError: 141,  # the reader of the output went away (`spicegrad ... | head`), as for SIGPIPE
}


def exit_code(exc: BaseException) -> int:
    """The exit status for ``exc``: the entry of its nearest class in :data:`EXIT_CODES`."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


__all__ = [
    "EXIT_CODES",
    "CheckFailed",
    "InputError",
    "SimulatorError",
    "SpicegradError",
    "TrainingDiverged",
    "UnvalidatedConfigError",
    "exit_code",
]
