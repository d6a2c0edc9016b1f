# Shared install helpers for scripts/demo.sh and scripts/test.sh (sourced).
# Each installer is idempotent: it skips when the pinned version is present.

S3S_FS_VERSION=0.14.1
TANSU_VERSION=0.6.0
RUSTBERG_VERSION=0.3.0
APT_UPDATED=0

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Build dependencies of the binary: a C/C++ compiler, and cmake plus the OpenSSL
# zlib and libcurl headers that librdkafka (built from source by rdkafka-sys) needs.
ensure_build_packages() {
    command -v cc >/dev/null && command -v c++ >/dev/null && command -v pkg-config >/dev/null \
        && command -v curl >/dev/null && command -v cmake >/dev/null \
        && pkg-config --exists openssl zlib libcurl 2>/dev/null && return 0
    apt_install build-essential pkg-config curl ca-certificates openssl cmake libssl-dev zlib1g-dev libcurl4-openssl-dev
}

postgres_bin_dir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

ensure_debian_packages() {
    ensure_build_packages
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    postgres_bin_dir >/dev/null || apt_install postgresql
}

ensure_python_venv() {
    local venv="$CONTANGO_TOOLS/venv" req="tests/python/requirements.txt" stamp
    stamp="$venv/.requirements.sha256"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && sha256sum --status -c "$stamp" 2>/dev/null; then
        return 0
    fi
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    "$venv/bin/python" -m pip install -q -r "$req" >&2
    sha256sum "$req" > "$stamp"
}

ensure_s3s_fs() {
    local bin="$CONTANGO_TOOLS/s3s-fs/bin/s3s-fs"
    if [ -x "$bin" ] && [ -f "$CONTANGO_TOOLS/s3s-fs/.version" ] && [ "$(cat "$CONTANGO_TOOLS/s3s-fs/.version")" = "$S3S_FS_VERSION" ]; then
        return 0
    fi
    cargo install --locked "s3s-fs@$S3S_FS_VERSION" --features binary --root "$CONTANGO_TOOLS/s3s-fs" >&2
    echo "$S3S_FS_VERSION" > "$CONTANGO_TOOLS/s3s-fs/.version"
}

# The Kafka-protocol broker of the stream tests (tansu, SQLite storage).
ensure_tansu() {
    local bin="$CONTANGO_TOOLS/tansu/bin/tansu"
    if [ -x "$bin" ] && [ -f "$CONTANGO_TOOLS/tansu/.version" ] && [ "$(cat "$CONTANGO_TOOLS/tansu/.version")" = "$TANSU_VERSION" ]; then
        return 0
    fi
    cargo install --locked "tansu@$TANSU_VERSION" --features libsql --root "$CONTANGO_TOOLS/tansu" >&2
    echo "$TANSU_VERSION" > "$CONTANGO_TOOLS/tansu/.version"
}

# The Iceberg REST catalog server of the REST-catalog tests (rustberg: redb
# catalog file, local-filesystem warehouse; only its CLI and TLS features).
ensure_rustberg() {
    local bin="$CONTANGO_TOOLS/rustberg/bin/rustberg"
    if [ -x "$bin" ] && [ -f "$CONTANGO_TOOLS/rustberg/.version" ] && [ "$(cat "$CONTANGO_TOOLS/rustberg/.version")" = "$RUSTBERG_VERSION" ]; then
        return 0
    fi
    cargo install --locked "rustberg@$RUSTBERG_VERSION" --no-default-features --features cli,tls --root "$CONTANGO_TOOLS/rustberg" >&2
    echo "$RUSTBERG_VERSION" > "$CONTANGO_TOOLS/rustberg/.version"
}
