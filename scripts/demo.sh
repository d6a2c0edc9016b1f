#!/usr/bin/env bash
# Runs the demo from a fresh clone: installs the system packages the build
# needs, builds the release binary and starts `contango demo` on loopback
# (embedded SQLite catalog + local warehouse in ./contango-data, auth off).
# Extra arguments go to `contango demo` (e.g. --rows 10000000). With --stream
# and no broker on 127.0.0.1:9092, a local tansu broker is installed (once,
# ~10 min to compile) and started, and the market is replayed into it live.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTANGO_TOOLS=${CONTANGO_TOOLS:-$HOME/.cache/contango-tools}
source scripts/lib.sh
step "system packages"
ensure_build_packages
step "build (release)"
cargo build --locked --release -p contango
DATA=${CONTANGO_DATA_DIR:-contango-data}
if [[ " $* " == *" --stream "* ]] && ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
    step "Kafka-protocol broker (tansu $TANSU_VERSION) on 127.0.0.1:9092"
    mkdir -p "$CONTANGO_TOOLS"
    ensure_tansu
    mkdir -p "$DATA/kafka"
    (cd "$DATA/kafka" && RUST_LOG=warn exec "$CONTANGO_TOOLS/tansu/bin/tansu" broker \
        --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
        --storage-engine sqlite://tansu.db >tansu.log 2>&1) &
    BROKER=$!
    trap 'kill $BROKER 2>/dev/null || true' EXIT
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null && break; sleep 0.1; done
fi
step "demo"
./target/release/contango demo --data-dir "$DATA" "$@"
