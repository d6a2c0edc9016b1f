#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs every server and client it
# uses (once, into $CONTANGO_TOOLS, outside the clone), builds the workspace,
# runs the Rust tests and then the Python tests against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CONTANGO_TOOLS=${CONTANGO_TOOLS:-$HOME/.cache/contango-tools}
export EIA_DIR=${EIA_DIR:-$(cd "$ROOT/.." && pwd)/shared/data/eia}
mkdir -p "$CONTANGO_TOOLS"
source scripts/lib.sh

step "system packages"
ensure_debian_packages

step "Python clients (venv in $CONTANGO_TOOLS/venv)"
ensure_python_venv

step "S3-compatible server (s3s-fs $S3S_FS_VERSION)"
ensure_s3s_fs

step "Kafka-protocol broker (tansu $TANSU_VERSION)"
ensure_tansu

step "Iceberg REST catalog server (rustberg $RUSTBERG_VERSION)"
ensure_rustberg

step "format"
cargo fmt --all --check

step "build"
cargo build --locked --workspace --all-targets

step "lints (clippy, warnings denied)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "docs (rustdoc, warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps

step "Rust tests"
# NVIDIA's NVRTC wheel (in the venv) lets the tests compile the CUDA kernels
# here; the GPU-vs-CPU tests say they are skipped where there is no GPU.
nvrtc_dir=$(dirname "$(find "$CONTANGO_TOOLS/venv" -name 'libnvrtc.so.*' | head -1)" 2>/dev/null || true)
LD_LIBRARY_PATH="${nvrtc_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$CONTANGO_TOOLS/cargo-test.log"

step "Python tests (real clients and servers)"
export CONTANGO_BIN="$ROOT/target/debug/contango"
export S3S_FS_BIN="$CONTANGO_TOOLS/s3s-fs/bin/s3s-fs"
export TANSU_BIN="$CONTANGO_TOOLS/tansu/bin/tansu"
export RUSTBERG_BIN="$CONTANGO_TOOLS/rustberg/bin/rustberg"
export PG_BIN
PG_BIN=$(postgres_bin_dir)
"$CONTANGO_TOOLS/venv/bin/python" -m pytest tests/python -q -p no:cacheprovider "$@"

step "Python SQL suites again, every table they read held in memory ([[accelerate]])"
# The same expected values: an accelerated answer must equal the answer from Iceberg.
CONTANGO_TEST_ACCELERATE=iceberg.market.ticks,iceberg.market.defects,iceberg.eia.wti,iceberg.eia.brent,iceberg.eia.henry_hub \
    "$CONTANGO_TOOLS/venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/python/test_compat_corpus.py tests/python/test_commodity_sql.py tests/python/test_anomalies.py
