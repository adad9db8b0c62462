"""Draw docs/abf2_wrky33_track.png (docs/predict.md, "Genome tracks") from the tracks of the command
there ($GENOME and $PEAKS: docs/data.md):

    mkdir -p ft && seqzoo predict DeepSEA_Athaliana265 --fasta $GENOME --tile genome --targets ABF2,WRKY33 \
        -o 'ft/ds_{target}.bw'
    python research/make_track_figure.py ft $PEAKS
"""

import gzip
import sys
from pathlib import Path

from seqzoo.plots import track_figure

tracks, peaks_bed = Path(sys.argv[1]), sys.argv[2]
start, end = 20602000, 20620000  # two ABF2 peaks in the validation block of chr1
peaks = []
with gzip.open(peaks_bed, "rt") as f:
    for line in f:
        chrom, s, e, tf = line.split()
        if tf == "ABF2" and int(s) < end and int(e) > start:
            peaks.append((int(s), int(e), "ABF2 DAP-seq"))
track_figure(Path(__file__).resolve().parents[1] / "docs" / "abf2_wrky33_track.png",
             {t: tracks / f"ds_{t}.bw" for t in ("ABF2", "WRKY33")}, f"chr1:{start}-{end}", peaks=peaks,
             title="DeepSEA_Athaliana265, tiled at its 200 bp bin (validation block of chr1)")
