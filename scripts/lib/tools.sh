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

# rdkafka builds librdkafka from source: it needs a C compiler, make, zlib and OpenSSL
# headers (TLS, SASL_SSL and SCRAM).
ensure_rust_build_deps() {
    command -v cargo >/dev/null || { say "cargo is missing: install Rust (rustup) first"; exit 1; }
    local missing=()
    command -v cc >/dev/null || missing+=(gcc)
    command -v make >/dev/null || missing+=(make)
    [ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
    [ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v curl >/dev/null || missing+=(curl)
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

# The browser test drives Debian's Chromium over the DevTools protocol with Node's own
# WebSocket (no npm packages).
ensure_browser() {
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v node >/dev/null || missing+=(nodejs)
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# The TLS test (crates/pipeline/tests/it/tls.rs) puts Debian's stunnel in front of a broker
# of its own and makes its certificates with the openssl CLI.
ensure_stunnel() {
    local missing=()
    command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || missing+=(stunnel4)
    command -v openssl >/dev/null || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# The monitoring test (crates/pipeline/tests/it/prometheus.rs) checks /metrics and the alert
# rules with promtool and scrapes `pipeline up` with a real Prometheus (Debian's package
# ships both; its service is not used).
ensure_prometheus() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null || apt_install prometheus
}

# Test databases are named t_<test>_<pid>_…; a run that died leaves its Kafka tables
# consuming. Drop what earlier runs left before starting.
drop_stale_test_databases() {
    local url=${CLICKHOUSE_URL:-http://127.0.0.1:8123} db
    for db in $(curl -sf "$url/" --data-binary "SELECT name FROM system.databases WHERE startsWith(name, 't_')"); do
        curl -sf "$url/" --data-binary "DROP DATABASE IF EXISTS \`$db\`" >/dev/null || true
    done
}

# The compose files are checked with `docker-compose config` (crates/pipeline/tests/it/compose.rs):
# Debian's docker-compose (v1, Python) parses and validates them without a Docker engine.
ensure_docker_compose() {
    command -v docker-compose >/dev/null || apt_install docker-compose
}
