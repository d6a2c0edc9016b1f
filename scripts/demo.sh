#!/usr/bin/env bash
# Runs the demo from a fresh clone: installs the system packages the build
# needs, builds the release binary and starts `contango demo` on loopback
# (embedded SQLite catalog + local warehouse in ./contango-data, auth off).
# Extra arguments go to `contango demo` (e.g. --rows 10000000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
step "system packages"
ensure_build_packages
step "build (release)"
cargo build --locked --release -p contango
step "demo"
exec ./target/release/contango demo --data-dir "${CONTANGO_DATA_DIR:-contango-data}" "$@"
