#!/usr/bin/env bash
# The whole GPU check of issue 19 in one go, on a machine with a CUDA GPU and torch
# installed (no network needed): install the project, run the test suite, run the GPU
# steps of benchmarks/speed.py. Not yet run on a GPU: estimated 5-8 minutes on one H200
# with 16 cores (the suite's time there is unknown; the benchmark's estimate is ~3 min).
#
#   scripts/gpu_check.sh                    # results in $OUT (default /tmp/gpu_check_out)
#   PYTHON=python3.12 scripts/gpu_check.sh
#   PYTEST_ARGS=tests/test_library.py SKIP_INSTALL=1 scripts/gpu_check.sh   # a part
#
# $OUT receives, flat (8 files at most): machine.txt (GPU, torch, packages), install.txt,
# pytest.txt (the suite's output, a line per test), junit.xml (each test's result and
# time), speed.txt (the benchmark's table), gpu.json (benchmarks/results/gpu.json, saved
# after each part) and summary.txt (each step's exit status and seconds). The exit status
# is the suite's, or the benchmark's when the suite passed.
#
# Time limits keep the whole check inside one 10-minute call: the suite SUITE_SECONDS
# (300), the benchmark BENCH_SECONDS (270). The benchmark compares CUDA with the CPU in
# process (time_to_cpu_loss: 2 epochs of 400,000 windows on the CPU, then CUDA until it
# reaches that loss) and skips the CPU's `lstmae train` end to end (three networks, a few
# minutes on the CPU); BENCH_ARGS="" runs it too. The suite stops after MAX_FAIL (25) failures
# rather than at the first (-x), so that one run names every test that fails on a GPU.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check_out}
PY=${PYTHON:-python3}
SUITE_SECONDS=${SUITE_SECONDS:-300}
BENCH_SECONDS=${BENCH_SECONDS:-270}
BENCH_ARGS=${BENCH_ARGS---no-gpu-cpu-train}
MAX_FAIL=${MAX_FAIL:-25}
PYTEST_ARGS=${PYTEST_ARGS:-}  # e.g. "tests/test_library.py" to run a part
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: >"$summary"

step() {  # step NAME SECONDS LOG COMMAND...: run with a time limit, note status and seconds
    local name=$1 limit=$2 log=$3
    shift 3
    local began=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    local status=$?
    echo "$name: exit $status in $((SECONDS - began)) s (limit $limit s)" | tee -a "$summary"
    return $status
}

{
    date -u
    nvidia-smi || true
    "$PY" -c 'import os; print("cpus", os.cpu_count(), "affinity", len(os.sched_getaffinity(0)))'
    "$PY" -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device")'
    "$PY" -m pip list 2>/dev/null | grep -i -E '^(torch|typer|click|pandas|numpy|pyarrow|safetensors|scikit-learn|scipy|matplotlib|rich|pytest|hypothesis|onnx|onnxruntime|setuptools) '
} >"$OUT/machine.txt" 2>&1

# No network there: no build isolation (it would download setuptools). Without an install
# the package still imports from the checkout (the tests and benchmarks start it as
# `python -m lstmae_cli`).
if [ -n "${SKIP_INSTALL:-}" ]; then
    echo "install skipped (SKIP_INSTALL)" | tee -a "$summary"
elif ! step install 300 "$OUT/install.txt" "$PY" -m pip install --no-deps --no-build-isolation -e .; then
    echo "install failed: using PYTHONPATH=$PWD" | tee -a "$summary"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

step tests "$SUITE_SECONDS" "$OUT/pytest.txt" \
    "$PY" -m pytest -v -p no:cacheprovider --maxfail="$MAX_FAIL" --junitxml="$OUT/junit.xml" -rfE \
    $PYTEST_ARGS
tests=$?
tail -n 15 "$OUT/pytest.txt" | tee -a "$summary"

rm -f benchmarks/results/gpu.json  # so that only this run's rows are copied
step benchmark "$BENCH_SECONDS" "$OUT/speed.txt" "$PY" benchmarks/speed.py --gpu-only $BENCH_ARGS
bench=$?
tail -n 20 "$OUT/speed.txt" | tee -a "$summary"
cp benchmarks/results/gpu.json "$OUT/gpu.json" 2>/dev/null || echo "no gpu.json written" | tee -a "$summary"

if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$bench"
