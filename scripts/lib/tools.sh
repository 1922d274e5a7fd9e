# Shared by scripts/run and scripts/test: installing what a build or a test needs, once.

TOOLS_DIR=${PIPELINE_TOOLS_DIR:-$HOME/.cache/retail-pipeline/tools}

say() { echo "setup: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    say "installing $* (apt)"
    as_root apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# rdkafka builds librdkafka from source: it needs a C compiler, make and zlib headers.
ensure_rust_build_deps() {
    command -v cargo >/dev/null || { say "cargo is missing: install Rust (rustup) first"; exit 1; }
    local missing=()
    command -v cc >/dev/null || missing+=(gcc)
    command -v make >/dev/null || missing+=(make)
    [ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# chDB (an in-process current ClickHouse) checks the DDL rendered for ClickHouse 25.x.
# Installed once into a venv under the tools dir.
ensure_chdb_python() {
    local venv="$TOOLS_DIR/chdb-venv" req=tests/modern_clickhouse/requirements.txt
    CHDB_PYTHON="$venv/bin/python"
    if [ -x "$CHDB_PYTHON" ] && cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
        return
    fi
    say "installing chDB into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/requirements.txt"
}
