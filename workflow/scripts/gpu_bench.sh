#!/usr/bin/env bash
# SpaMI on one CUDA GPU, float32 beside bf16 (issue #33); run from a checkout:
#
#     bash workflow/scripts/gpu_bench.sh [OUT_DIR] [SIZES...]
#
# Needs Python with torch (CUDA build), numpy, scipy, pandas and matplotlib; nothing of the
# single-cell stack (the benchmark trains on random features of the simulated data's
# preprocessed widths: 50 RNA PCs, 100 proteins). What it checks and writes:
#   1. the device, and whether it multiplies bfloat16 natively (compute capability >= 8.0);
#   2. that ten epochs on the GPU train the CPU's model: float32 and bf16, no dropout (the
#      GPU draws other masks), full-batch; it stops if the losses differ by more than 1 %
#      (float32) or 3 % (bf16) or the embeddings by more than 1 % (float32) or 5 % (bf16)
#      of their largest entry;
#   3. `spami bench --device cuda --precision float32 bf16` at 10^4, 10^5 and 10^6 spots:
#      one training epoch (median of 10 after a warm-up), the GEMM floor timed on the GPU,
#      their ratio, peak GPU memory (peak_gpu_mb) and peak RSS, one row per precision, in
#      OUT_DIR/scaling.csv and scaling.png (10^6 spots full-batch need about 20 GB).
# Not run in any development session (no GPU was available); written to run as it is.
set -euo pipefail

OUT=${1:-results/bench/gpu}
shift || true
SIZES=${*:-10000 100000 1000000}
export PYTHONPATH="$(cd "$(dirname "$0")/../.." && pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"

"$PYTHON" - <<'EOF'
import numpy as np
import torch

from fastspami._kernels.precision import bf16_supported
from fastspami.model.presets import get_preset
from fastspami.model.train import fit_spami

assert torch.cuda.is_available(), "no CUDA device: this script is for a GPU machine"
device = torch.device("cuda")
name = torch.cuda.get_device_name(device)
major, minor = torch.cuda.get_device_capability(device)
print(f"device: {name}, compute capability {major}.{minor}, torch {torch.__version__}")
print(f"native bfloat16: {bf16_supported(device)}")

rng = np.random.default_rng(0)
coords = np.stack(np.meshgrid(np.arange(40), np.arange(40)), -1).reshape(-1, 2).astype(float)
features = [rng.normal(size=(len(coords), 50)), rng.normal(size=(len(coords), 100))]
for precision, loss_tol, emb_tol in (("float32", 0.01, 0.01), ("bf16", 0.03, 0.05)):
    cfg = get_preset("simulated").with_overrides(epochs=10, dropout=0.0, precision=precision)
    runs = {
        dev: fit_spami(features, coords, cfg, seed=0, device=dev, threads=2, progress=False)
        for dev in ("cpu", "cuda")
    }
    cpu, gpu = runs["cpu"], runs["cuda"]
    loss_gap = np.max(np.abs(np.subtract(gpu.history["total"], cpu.history["total"]))
                      / np.abs(cpu.history["total"]))
    emb_gap = np.abs(gpu.embedding - cpu.embedding).max() / np.abs(cpu.embedding).max()
    print(f"{precision}: ran {gpu.precision} on the GPU, {cpu.precision} on the CPU; "
          f"loss gap {loss_gap:.2e}, embedding gap {emb_gap:.2e}")
    assert loss_gap <= loss_tol and emb_gap <= emb_tol, f"the GPU's {precision} model differs"
print("the GPU trains the CPU's model")
EOF

# shellcheck disable=SC2086  # SIZES is a list of numbers
"$PYTHON" -m fastspami.cli bench --device cuda --precision float32 bf16 \
    --feature-dims 50 100 --sizes $SIZES --full-epochs 0 --epochs-timed 10 --out "$OUT"
"$PYTHON" - "$OUT/scaling.csv" <<'EOF'
import sys

import pandas as pd

table = pd.read_csv(sys.argv[1])
columns = ["n_spots", "precision", "epoch_s", "gemm_s", "epoch_over_gemm", "gemm_all_s",
           "epoch_over_gemm_all", "peak_gpu_mb", "peak_rss_mb"]
print(table[columns].to_string(index=False))
EOF
