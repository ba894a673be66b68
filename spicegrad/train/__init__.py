"""Training on validated twins: memprop, eprop, manhattan (in-situ crossbar), compress."""
