"""The Ray engine gives the same rows, in the same order, as the local engine, bit for bit."""

import numpy as np
import pandas as pd
import pytest

import seqzoo
from seqzoo.predict_dna import predict_bed

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
from seqzoo.distributed import predict_bed_ray  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=200 * 1024 ** 2, ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(3)
    chroms = {"chr1": "".join(rng.choice(list("ACGTNacgt"), 5000)), "chr2": "".join(rng.choice(list("ACGT"), 3000))}
    fasta = tmp_path / "g.fa"
    fasta.write_text("".join(f">{c}\n{s}\n" for c, s in chroms.items()))
    rows = []
    for i in range(300):  # unsorted, both chromosomes and strands, some past the ends
        chrom = "chr1" if i % 3 else "chr2"
        start = int(rng.integers(0, len(chroms[chrom]) - 50))
        rows.append(f"{chrom}\t{start}\t{start + 50}\tr{i}\t0\t{'+-'[i % 2]}\n")
    bed = tmp_path / "r.bed"
    bed.write_text("".join(rows))
    return fasta, bed


def test_ray_engine_equals_local_engine(local_ray, inputs, tmp_path):
    # the table as TSV, byte for byte, is the CLI test's (a Ray run each costs workers' TensorFlow start-ups)
    fasta, bed = inputs
    local, distributed = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    model = seqzoo.get_model("Basset", device="cpu")
    predict_bed(model, fasta, bed, local, batch_size=32, out_of_bounds="refuse", progress=False)
    n = predict_bed_ray("Basset", fasta, bed, distributed, batch_size=32, batches_per_shard=2,
                        out_of_bounds="refuse", workers=2, progress=False)
    assert n == 300
    a, b = pd.read_parquet(local), pd.read_parquet(distributed)
    assert list(a.columns) == list(b.columns) and list(b["name"]) == [f"r{i}" for i in range(300)]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert b["note"].str.contains("reaches past").any()


def test_ray_engine_refuses_bad_input_before_starting(local_ray, inputs, tmp_path):
    fasta, _ = inputs
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t10\t20\nchrX\t10\t20\n")
    with pytest.raises(ValueError, match=r"bad.bed, line 2: chromosome 'chrX'"):
        predict_bed_ray("Basset", fasta, bed, tmp_path / "out.tsv", progress=False)
    assert not (tmp_path / "out.tsv").exists()


def test_cli_ray_engine_writes_the_local_engines_tsv_byte_for_byte(local_ray, inputs, tmp_path):
    from seqzoo.cli import main

    fasta, bed = inputs
    local, out = tmp_path / "local.tsv", tmp_path / "cli.tsv"
    model = seqzoo.get_model("Basset", device="cpu")
    predict_bed(model, fasta, bed, local, batch_size=16, out_of_bounds="refuse", progress=False)
    # 16 x 8 (the default batches per shard): 3 shards over 2 workers
    assert main(["predict", "Basset", "--engine", "ray", "--fasta", str(fasta), "--bed", str(bed), "-o", str(out),
                 "--quiet", "--batch-size", "16", "--out-of-bounds", "refuse", "--workers", "2"]) == 0
    assert len(pd.read_csv(out, sep="\t")) == 300
    assert out.read_bytes() == local.read_bytes()  # the local engine's TSV, byte for byte


def test_ray_engine_tiles_to_the_same_track_and_table(local_ray, inputs, tmp_path):
    import pyBigWig

    from seqzoo.distributed import predict_ray
    from seqzoo.predict_dna import predict_tiles

    fasta, _ = inputs
    regions = tmp_path / "regions.bed"
    regions.write_text("chr1\t0\t2600\nchr2\t1000\t3000\n")  # shards cross from chr1 into chr2
    model = seqzoo.get_model("Basset", device="cpu")  # no narrower bin: step = input length, 600
    options = dict(step=150, batch_size=4, targets="8988T*,A549*", progress=False)
    predict_tiles(model, fasta, str(regions), tmp_path / "local.tsv", **options)
    n = predict_ray("Basset", fasta, tmp_path / "ray.tsv", tile=str(regions), batches_per_shard=3, workers=2, **options)
    assert n == 18 + 14
    assert (tmp_path / "ray.tsv").read_bytes() == (tmp_path / "local.tsv").read_bytes()

    predict_tiles(model, fasta, str(regions), tmp_path / "local_{target}.bw", **options)
    predict_ray("Basset", fasta, tmp_path / "ray_{target}.bw", tile=str(regions), batches_per_shard=3, workers=2,
                **options)
    tracks = sorted(p.name for p in tmp_path.glob("ray_*.bw"))
    assert len(tracks) >= 2
    for name in tracks:
        with pyBigWig.open(str(tmp_path / name)) as a, pyBigWig.open(str(tmp_path / name.replace("ray_", "local_"))) as b:
            for chrom, size in b.chroms().items():
                assert a.intervals(chrom) == b.intervals(chrom)
                assert all(start < end <= size for start, end, _ in b.intervals(chrom))  # chr2 ends at 3000
