"""ngspice accuracy settings shared by every twin-vs-ngspice cross-check."""

#: ngspice accuracy for every twin-vs-ngspice cross-check (testbenches, crossbars, training in
#: the loop): tight tolerances; each caller limits the step to a tenth of the twin's dt. Tighter
#: reltol makes Newton stall at the PCM track-and-hold switch.
SPICE_OPTIONS = {"reltol": 1e-6, "abstol": 1e-15, "vntol": 1e-9}
