"""Errors raised when ngspice cannot be found or a simulation fails."""

from __future__ import annotations

from ..errors import SimulatorError


class SpiceError(SimulatorError):
    """ngspice rejected a netlist or failed during a run.

    ``message`` is ngspice's own text; ``line`` is the netlist line involved (when ngspice names
    one, or names a node that a line connects), ``line_number`` its 1-based number in the netlist
    (the title is line 1, as ngspice counts).
    """

    def __init__(self, message: str, line: str | None = None, line_number: int | None = None):
        self.message = message.strip()
        self.line = line
        self.line_number = line_number
        text = f"ngspice failed: {self.message}"
        if line is not None:
            where = f"line {line_number}" if line_number is not None else "netlist line"
            text += f"\n  {where}: {line}"
        super().__init__(text)


class NgspiceNotFound(SpiceError):
    """The ngspice executable or shared library is missing."""

    def __init__(self, what: str = "ngspice executable"):
        hint = (
            f"{what} not found. Install it with `sudo apt-get install ngspice libngspice0` "
            "(Debian/Ubuntu), `brew install ngspice` (macOS), or set SPICEGRAD_NGSPICE to the "
            "ngspice binary."
        )
        RuntimeError.__init__(self, hint)
        self.message, self.line, self.line_number = hint, None, None
