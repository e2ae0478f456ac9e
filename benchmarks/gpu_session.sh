#!/usr/bin/env bash
# Everything a session with a GPU runs, in one call of the device tool:
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=600)
# The device image has CuPy, NumPy, SciPy, xarray, numba, scikit-image, h5py, tifffile and pytest; the
# rest travels as wheels in .whl/ (git-ignored; fetch them with `bash benchmarks/gpu_session.sh --fetch`
# here). Logs and tables land in $OUT: the gpu tests, the CuPy-path and kernel suites on the real device
# (the same ones CI runs over the fake device), all of it again with HYPERSPEC_CUDA_KERNELS=1, and the GPU
# benchmark (BIG_ROWS rows of the 2000x2000x1024 map).
set -o pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fetch" ]; then  # on the development machine: the wheels the device lacks (Python 3.12, x86-64)
    mkdir -p .whl
    for pkg in dask==2026.8.0 zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 partd==1.4.2 \
               locket==1.0.0 sif_parser renishawWiRE pybaselines==1.2.1 pentapy "setuptools>=77"; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$pkg" || exit 1
    done
    du -sh .whl
    exit 0
fi
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1  # hyperspec and hyperspec._kernels (setuptools >= 77 from .whl)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
PYTEST="python3 -m pytest -q -p no:cacheprovider --continue-on-collection-errors -W default"  # other versions there: warnings are not errors
$PYTEST -m gpu tests 2>&1 | tee "$OUT/tests_gpu.log"
$PYTEST tests/test_cupy_path.py tests/fit/test_cuda_fused.py tests/preprocess/test_banded_cuda.py 2>&1 | tee "$OUT/tests_cupy_path.log"
(export HYPERSPEC_CUDA_KERNELS=1; $PYTEST -m gpu tests; $PYTEST tests/test_cupy_path.py) 2>&1 | tee "$OUT/tests_kernels_on.log"
timeout "${BENCH_TIMEOUT:-330}" python3 benchmarks/bench_gpu.py --big-rows "${BIG_ROWS:-200}" --out "$OUT/gpu_bench.md" 2>&1 | tee "$OUT/bench.log"
