#!/usr/bin/env bash
# The command of the one device call (benchmarks/gpu/README.md): install the carried
# wheels into a target folder, then run the benchmark with its JSON under $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site benchmarks/gpu/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD/src KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
python3 benchmarks/gpu/run.py --out "${OUT:-benchmarks/results}" 2>&1 | tee "${OUT:-/tmp}/gpu_benchmark.log"
