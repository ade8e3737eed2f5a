#!/usr/bin/env bash
# Builds `earworm` with `--features cuda` (GPU inference and training through candle), on a
# machine with or without a GPU and driver, from NVIDIA's CUDA 13.0 wheels on PyPI (no system
# CUDA install). Output: target/cuda/release/earworm, plus a stripped, xz-compressed copy
# (earworm-cuda.xz) small enough to carry to a GPU machine.
#
#   tools/build_cuda.sh [--compute-cap 90]
#
# Needs python3 with venv, a C compiler, and ~3 GB of disk for the wheels. About 35 minutes on
# 2 cores, half of it nvcc compiling candle's kernels. The result needs, at run time, an NVIDIA
# driver for CUDA 13 (>= 580) and the cuBLAS, cuRAND, cudart and NVRTC libraries (candle 0.11
# links cudarc dynamically): point LD_LIBRARY_PATH at the wheels' nvidia/cu13/lib (this script
# prints the line). The default build (`cargo build --release`) stays CPU-only and runs
# everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
compute_cap=${CUDA_COMPUTE_CAP:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --compute-cap) compute_cap=$2; shift 2 ;;
    *) echo "usage: tools/build_cuda.sh [--compute-cap 90]" >&2; exit 2 ;;
  esac
done
if [ -z "$compute_cap" ]; then
  if command -v nvidia-smi >/dev/null && cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1); then
    compute_cap=${cap/./}
  else
    compute_cap=90   # H100/H200; pass --compute-cap for other GPUs (e.g. 80 for A100, 89 for L4)
  fi
fi
started=$(date +%s)
cuda=$root/target/cuda-toolkit
venv=$cuda/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Pinned: nvidia-nvvm must match nvcc, or ptxas fails with "Unsupported .version 9.5".
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96 \
  nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-curand==10.4.0.35 nvidia-cublas==13.0.2.14
cu13=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$cu13/bin/nvcc" ] || { echo "error: nvcc not found under $cu13" >&2; exit 1; }

# CUDA_ROOT as the build scripts expect it: lib64/ with the libraries' unversioned names.
mkdir -p "$cuda/root/lib64/stubs"
ln -sfn "$cu13/include" "$cuda/root/include"
ln -sfn "$cu13/bin" "$cuda/root/bin"
for lib in cublas cublasLt cudart nvrtc curand; do
  real=$(ls "$cu13/lib/lib$lib.so"* 2>/dev/null | sort | tail -1)
  [ -n "$real" ] || { echo "error: lib$lib.so not found in $cu13/lib" >&2; exit 1; }
  ln -sfn "$real" "$cuda/root/lib64/lib$lib.so"
done

# Without a driver there is no libcuda.so to link against: a stub whose every function (those
# cudarc declares) returns CUDA_ERROR_UNKNOWN. At run time the real driver's library is used.
cargo fetch --quiet
if ! ls /usr/lib/x86_64-linux-gnu/libcuda.so* >/dev/null 2>&1 && ! ls /usr/local/nvidia/lib64/libcuda.so* >/dev/null 2>&1; then
  cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | sort | tail -1)
  # The driver API as cudarc declares it (`fn cuInit(` …, in its extern blocks and wrappers).
  grep -rhoE '\bfn cu[A-Za-z0-9_]+\(' "$cudarc/src/driver/sys" | sed 's/^fn //; s/($//' | sort -u |
    awk '{print "int " $1 "(void) { return 999; }"}' > "$cuda/libcuda_stub.c"
  [ -s "$cuda/libcuda_stub.c" ] || { echo "error: no driver functions found in $cudarc" >&2; exit 1; }
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cuda/root/lib64/stubs/libcuda.so" "$cuda/libcuda_stub.c"
  echo "no NVIDIA driver here: linking against a libcuda stub ($(wc -l < "$cuda/libcuda_stub.c") functions)"
fi

export CUDA_ROOT=$cuda/root CUDA_PATH=$cuda/root CUDA_COMPUTE_CAP=$compute_cap
export PATH=$cu13/bin:$PATH
export LIBRARY_PATH=$cuda/root/lib64:$cuda/root/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
echo "building with nvcc $(nvcc --version | grep -o 'release [0-9.]*'), compute capability $compute_cap"
cargo build --release --features cuda --target-dir target/cuda --bin earworm
strip -o target/cuda/earworm-cuda target/cuda/release/earworm
xz -T0 -6 -c target/cuda/earworm-cuda > target/cuda/earworm-cuda.xz
echo "built target/cuda/release/earworm in $(( ($(date +%s) - started) / 60 )) min; carry target/cuda/earworm-cuda.xz ($(du -h target/cuda/earworm-cuda.xz | cut -f1))"
echo "to run it: LD_LIBRARY_PATH=$cu13/lib:/usr/local/nvidia/lib64 target/cuda/release/earworm info"
