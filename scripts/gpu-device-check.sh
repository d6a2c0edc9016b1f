#!/usr/bin/env bash
# The GPU checks, run on a machine with an NVIDIA GPU and the CUDA toolkit's
# NVRTC: the kernel tests (GPU vs CPU references), the SQL tests of the GPU
# operators, then the GPU benchmark against the CPU path and DuckDB.
#
# Binaries are built elsewhere (x86-64) and passed in a folder:
#   BIN/gpu_vs_cpu       cargo test --release -p contango-gpu-kernels --no-run
#   BIN/contango_sql     cargo test --release -p contango-sql --no-run
#   BIN/gpu_bench        cargo build --release -p contango-bench --bin gpu_bench
#   BIN/*.whl            the duckdb wheel when the machine has no duckdb
# Usage: scripts/gpu-device-check.sh BIN OUT [ROWS]
# (BENCH_ARGS adds gpu_bench options, e.g. --analyze for EXPLAIN ANALYZE in bench.log.)
set -uo pipefail
BIN=$1
OUT=$2
ROWS=${3:-10000000,100000000}
mkdir -p "$OUT"

# NVRTC from the toolkit; the driver's libcuda (never the toolkit's stub).
d=""
for f in $(find /usr/local /opt -name 'libnvrtc.so*' -not -path '*stubs*' 2>/dev/null); do d="$d:$(dirname "$f")"; done
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:/usr/local/nvidia/lib${d}"

for z in "$BIN"/*.xz; do [ -e "$z" ] && xz -d -f -T0 "$z"; done
chmod +x "$BIN"/gpu_vs_cpu "$BIN"/contango_sql "$BIN"/gpu_bench 2>/dev/null

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
nproc | sed 's/^/cpu cores: /' | tee -a "$OUT/gpu.txt"

rc=0
echo "== kernel tests (GPU vs CPU references)"
"$BIN"/gpu_vs_cpu --test-threads 1 --nocapture 2>&1 | tee "$OUT/kernels-test.log" || rc=1
echo "== SQL tests of the GPU operators (gpu = on runs on the device here)"
# (SQL_TEST_REPEAT=N runs them N times: a flaky device failure was seen once.)
for _ in $(seq "${SQL_TEST_REPEAT:-1}"); do
    "$BIN"/contango_sql gpu:: --nocapture 2>&1 | tee -a "$OUT/sql-test.log" || rc=1
done

if ! python3 -c 'import duckdb' 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$BIN"/*.whl && export PYTHONPATH=/tmp/site
fi
echo "== DuckDB"
python3 benches/gpu_duckdb.py --rows "$ROWS" > "$OUT/duckdb.txt" || rc=1
echo "== benchmark"
"$BIN"/gpu_bench --rows "$ROWS" --reps 3 ${BENCH_ARGS:-} --duckdb "$OUT/duckdb.txt" --out "$OUT/gpu_bench.md" 2> "$OUT/bench.log" || rc=1
grep -E "MISMATCH|agree" "$OUT/bench.log"
cat "$OUT/gpu_bench.md"
exit $rc
