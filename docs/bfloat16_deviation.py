"""How far a model's bfloat16 predictions deviate from float32 on real sequence: the windows tiling
its example genome (README, --precision). Also lists which layers compute in bfloat16.

    python docs/bfloat16_deviation.py DeepSEA_Athaliana265
"""
import sys
import tempfile

import keras
import numpy as np
import pandas as pd

import seqzoo
from seqzoo.predict_dna import predict_tiles
from seqzoo.zoo.spec import find_model


def layer_policies(model, out):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layer_policies(layer, out)
        else:
            out.append((layer.name, layer.dtype_policy.name))
    return out


name = sys.argv[1]
m32 = seqzoo.get_model(name, device="cpu")
m16 = seqzoo.get_model(name, device="cpu", precision="bfloat16")
policies = layer_policies(m16.keras_model, [])
print("layers:", len(policies), "bfloat16:", sum(p == "mixed_bfloat16" for _, p in policies),
      "float32:", [n for n, p in policies if p == "float32"])
example = find_model(name) / "example"
with tempfile.TemporaryDirectory() as tmp:
    predict_tiles(m32, example / "genome.fa", "genome", f"{tmp}/a.parquet", progress=False)
    predict_tiles(m16, example / "genome.fa", "genome", f"{tmp}/b.parquet", progress=False)
    a, b = pd.read_parquet(f"{tmp}/a.parquet"), pd.read_parquet(f"{tmp}/b.parquet")
diff = np.abs(a[m32.columns].to_numpy() - b[m32.columns].to_numpy())
print(name, "windows", len(a), "max |bf16 - fp32|", float(np.nanmax(diff)),
      "p99.9", float(np.nanpercentile(diff, 99.9)))
