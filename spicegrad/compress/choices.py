"""The names the compression modules accept, importable without torch: the command line lists
them as choices (``compress quantize --curve``, ``compress curves --curves``), and the modules
that check them import them from here."""

#: where device levels come from: uniform states, the MSS pulse response (twin), the PCM
#: cumulative SET curve (mean field)
SOURCES = ("uniform", "mss-pulse", "pcm-set")
