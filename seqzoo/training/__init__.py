"""Training the zoo's models: genome-window data sets (``datasets``), DNA models (``dna``), protein
models (``protein``), known-motif baselines (``baselines``) and the metrics they share (``metrics``).
A finished run becomes a model directory through ``seqzoo.packaging``."""
