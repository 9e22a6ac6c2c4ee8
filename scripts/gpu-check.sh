#!/usr/bin/env bash
# One device call that proves Gatewise's GPU paths (H200 image: Python 3.12, CUDA 13, torch, cuda-bindings,
# CPU onnxruntime, no registry), writing every figure and log under OUT (8 files at most come back).
#
#   scripts/gpu-check.sh --dry-run [OUT]   here, on CPU: wheels resolve for cp312 manylinux x86_64, the carry
#                                          plan fits 64 MiB per call, every command and module exists
#   python3 scripts/gpu/plan.py fetch && python3 scripts/gpu/plan.py pack   here: wheels -> .carry/ parts, and
#                                          the device calls to make (each part in its own call, back to back)
#   scripts/gpu-check.sh OUT               on the GPU machine, in the last of those calls (about 9 minutes)
#
# Steps (each under its own timeout, so one slow step still leaves the others' figures): install the carried
# wheels into /tmp/site; nvidia-smi; the GPU tests (CUDA path of the TensorRT engine through cuda-bindings,
# TensorRT tests skip: no libnvinfer there); ONNX Runtime's CUDA EP on the classifier in FP32 and FP16;
# benchmarks/converters.py (PyTorch eager and ORT CUDA rows); gatewise bench on the CUDA model, workers 1 and 2.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ "${1:-}" == "--dry-run" ]]; then
    out=${2:-$(mktemp -d)}
    exec "${PYTHON:-python3}" scripts/gpu/plan.py dry-run "$out"   # PYTHON: an interpreter with Gatewise's deps
fi
[[ $# -eq 1 ]] || { sed -n 2,14p "$0"; exit 2; }
OUT=$1
mkdir -p "$OUT"
exec > >(tee -a "$OUT/check.log") 2>&1
export PYTHONUNBUFFERED=1
printf 'step\tstatus\tseconds\n' > "$OUT/steps.tsv"

step() {  # step NAME SECONDS LOG COMMAND...: run under a timeout, log to LOG, record status and time
    local name=$1 limit=$2 log=$3; shift 3
    local start=$SECONDS
    echo "== $name (at most ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" > >(tee "$log") 2>&1
    local status=$?
    printf '%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - start))" >> "$OUT/steps.tsv"
    echo "== $name: exit $status after $((SECONDS - start))s"
    return 0
}

for command in nvidia-smi python3 tar sha256sum timeout; do
    command -v "$command" > /dev/null || { echo "missing command: $command"; exit 1; }
done

echo "== install the carried wheels"
wheels=/tmp/gpu-wheels
rm -rf "$wheels" && mkdir -p "$wheels"
cat .carry/gpu-wheels.tar.part* | tar -x -C "$wheels" || { echo "the carried parts do not make a tar: were all calls made back to back?"; exit 1; }
(cd "$wheels" && sha256sum --quiet -c SHA256SUMS) || { echo "a carried wheel is damaged"; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl || exit 1
# /tmp/site first: its onnxruntime/ (onnxruntime-gpu) shadows the image's CPU onnxruntime, never mixed with it.
export PYTHONPATH=/tmp/site:$ROOT:$ROOT/tools/gatewise-lab  # the lab: gatewise bench
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"

step nvidia-smi 30 "$OUT/nvidia-smi.txt" nvidia-smi
step gpu-tests 100 "$OUT/pytest-gpu.log" python3 -m pytest -p no:cacheprovider -q -rs -m gpu \
    tests/gpu tests/converters/test_tensorrt_build.py
step ort-cuda 170 "$OUT/ort-cuda.log" python3 scripts/gpu/ort_cuda.py "$OUT" /tmp/gpu-models
step bench-converters 130 "$OUT/bench-converters.log" python3 benchmarks/converters.py --repeats 2 --iterations 10
for workers in 1 2; do
    step "bench-gateway-w$workers" 75 "$OUT/bench-gateway-w$workers.log" python3 -m gatewise_lab bench \
        --repository /tmp/gpu-models --model gpu-classifier --concurrency 1 --concurrency 64 \
        --seconds 3 --rounds 1 --workers "$workers" --no-perf-analyzer
done
rm -f "$OUT/ort-cuda.log"  # its figures are in ort-cuda.json and check.log; 8 files at most come back
echo "== done; steps:"
cat "$OUT/steps.tsv"
