"""Files only, no models: BED intervals (``bed``), genome FASTA random access (``genome``), protein
FASTA records (``proteins``), MEME motifs (``meme``) and the streaming, atomic output tables
(``tables``: TSV, Parquet, HDF5)."""
