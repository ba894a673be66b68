"""The STDP pair's preset names and default twin step, importable without numpy or torch: the
command line shows them (``train stdp --preset/--dt``), and :mod:`.stdp_protocol` and
:mod:`.stdp` import them from here."""

#: :class:`~.stdp_protocol.PairProtocol` presets: name -> fields that differ from the defaults
#: (see the protocol's module docstring)
PAIR_PRESETS: dict[str, dict] = {
    "zhou-tonic-knowm": {},
    "zhou-tonic-schottky": {"synapse": "knowm-schottky"},
}

#: the twin's default step (s). Measured against the DOP853 reference (6 pairs, exp-euler):
#: the window's error is 3.5e-5 / 1.5e-4 / 6.2e-4 / 2.0e-3 at dt = 0.25 / 0.5 / 1 / 2 µs (second
#: order: the tonic spike's phase), and 5 µs fails. 0.5 µs keeps it near 0.2 % of the peak.
DEFAULT_DT = 0.5e-6
