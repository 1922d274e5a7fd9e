# shellcheck shell=bash
# Helpers for scripts/services (sourced; expects REPO_DIR and SCRIPT_DIR to be set).

# ---------------------------------------------------------------- settings
TOOLS_DIR=${PIPELINE_TOOLS_DIR:-$HOME/.cache/retail-pipeline/tools}
DATA_DIR=${PIPELINE_DATA_DIR:-$REPO_DIR/.data}
# The servers start inside their own directories: a relative path is taken from here.
case $DATA_DIR in /*) ;; *) DATA_DIR=$PWD/$DATA_DIR ;; esac
START_TIMEOUT=${SERVICES_START_TIMEOUT:-60}

TANSU_VERSION=0.6.0
TANSU_ROOT=$TOOLS_DIR/tansu-$TANSU_VERSION
TANSU_BIN=$TANSU_ROOT/bin/tansu
KAFKA_PORT=${KAFKA_PORT:-9092}
BROKER_DIR=$DATA_DIR/broker
BROKER_LOG=$BROKER_DIR/broker.log
BROKER_PID=$BROKER_DIR/broker.pid

# librdkafka shipped in the confluent-kafka 2.12.2 wheel (the wheel bundles librdkafka 2.12.1);
# the cache dir is named after the wheel version.
CONFLUENT_KAFKA_VERSION=2.12.2
RDKAFKA_DIR=$TOOLS_DIR/librdkafka-$CONFLUENT_KAFKA_VERSION
CH_INSTANCE=${CLICKHOUSE_INSTANCE:-clickhouse}
CH_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-8123}
CH_TCP_PORT=${CLICKHOUSE_TCP_PORT:-9000}
CH_LOG_LEVEL=${CLICKHOUSE_LOG_LEVEL:-warning}
CH_LIBRDKAFKA=${CLICKHOUSE_LIBRDKAFKA:-$RDKAFKA_DIR/librdkafka.so.1}
CH_DIR=$DATA_DIR/$CH_INSTANCE
CH_PID=$CH_DIR/clickhouse.pid
CH_STDERR=$CH_DIR/stderr.log
CH_LOG=$CH_DIR/log/clickhouse-server.log
CH_ERRLOG=$CH_DIR/log/clickhouse-server.err.log

# ---------------------------------------------------------------- messages
say() { printf 'services: %s\n' "$*"; }
warn() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: error: %s\n' "$*" >&2
    exit 1
}

check_settings() {
    local p
    for p in "$KAFKA_PORT" "$CH_HTTP_PORT" "$CH_TCP_PORT"; do
        if ! [[ $p =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then die "invalid port '$p'"; fi
    done
    if ! [[ $CH_INSTANCE =~ ^[A-Za-z0-9_.-]+$ ]] || [ "$CH_INSTANCE" = broker ]; then
        die "invalid CLICKHOUSE_INSTANCE '$CH_INSTANCE'"
    fi
    [ "$CH_HTTP_PORT" != "$CH_TCP_PORT" ] || die "CLICKHOUSE_HTTP_PORT and CLICKHOUSE_TCP_PORT are equal"
    [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "invalid SERVICES_START_TIMEOUT '$START_TIMEOUT'"
}
check_settings

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ---------------------------------------------------------------- processes and ports
# Print the pid recorded in $1 if that process is alive and runs executable $2 (basename).
live_pid() {
    local file=$1 exe=$2 pid
    [ -f "$file" ] || return 1
    pid=$(tr -dc '0-9' <"$file")
    # A zombie or a recycled pid running something else does not count.
    [ -n "$pid" ] && pid_alive "$pid" || return 1
    [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || true)")" = "$exe" ] || return 1
    printf '%s\n' "$pid"
}

# True while process $1 exists and is not a zombie (whatever it runs).
pid_alive() {
    [ -d "/proc/$1" ] || return 1
    case "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" in Z | X | '') return 1 ;; esac
}

stale_note() { [ ! -f "$1" ] || printf ' (stale pid file %s)' "$1"; }

# Remove a pid file whose process is gone; say so.
clean_stale_pid() {
    local file=$1 name=$2 exe=$3 pid
    [ -f "$file" ] || return 0
    if ! live_pid "$file" "$exe" >/dev/null; then
        pid=$(tr -dc '0-9' <"$file")
        say "$name: removing stale pid file (pid ${pid:-?} is gone)"
        rm -f "$file"
    fi
}

# Describe whoever listens on TCP port $1 ("" when free). Output: "name pid=N" or "unknown".
port_holder() {
    local port=$1 line
    if command -v ss >/dev/null; then
        line=$(ss -Hltnp "( sport = :$port )" 2>/dev/null | head -n1 || true)
        [ -n "$line" ] || return 0
        if [[ $line =~ \(\(\"([^\"]*)\",pid=([0-9]+) ]]; then
            printf '%s pid=%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        else
            printf 'unknown process (%s)\n' "$(awk '{print $4}' <<<"$line")"
        fi
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        printf 'unknown process\n'
    fi
}

# Fail if port $2 is held by anything (called before starting service $1).
require_free_port() {
    local name=$1 port=$2 what=$3 holder
    holder=$(port_holder "$port")
    [ -z "$holder" ] ||
        die "$name: port $port ($what) is already held by $holder, not by our $name; stop it or choose another port"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Launch "$@" detached (own session, no tty, stdin closed), log to $1, pid into $2. Sets LAUNCHED_PID.
launch() {
    local log=$1 pidfile=$2
    shift 2
    # setsid does not fork here (a background child is no process-group leader), so $! is the server.
    setsid "$@" </dev/null >>"$log" 2>&1 &
    LAUNCHED_PID=$!
    printf '%s\n' "$LAUNCHED_PID" >"$pidfile"
}

show_log_tail() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        printf -- '--- last 20 lines of %s\n' "$f" >&2
        tail -n 20 "$f" >&2
    done
}

# Stop the process in pid file $2 (TERM, up to 10 s, then KILL).
stop_pidfile() {
    local name=$1 file=$2 exe=$3 pid i
    if ! pid=$(live_pid "$file" "$exe"); then
        clean_stale_pid "$file" "$name" "$exe"
        say "$name: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        live_pid "$file" "$exe" >/dev/null || break
        sleep 0.1
    done
    if live_pid "$file" "$exe" >/dev/null; then
        warn "$name: pid $pid still alive after 10 s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            live_pid "$file" "$exe" >/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$file"
    say "$name: stopped (pid $pid)"
}

# ---------------------------------------------------------------- broker (tansu)
# Pids of a `cargo install tansu ... --root $TANSU_ROOT` running outside this script.
foreign_tansu_builds() {
    local f cmd
    for f in /proc/[0-9]*/cmdline; do
        cmd=$(tr '\0' ' ' <"$f" 2>/dev/null || true)
        case "$cmd" in
            *cargo*install*tansu*) ;;
            *) continue ;;
        esac
        case "$cmd" in
            *"$TANSU_ROOT "* | *"$TANSU_ROOT/ "*)
                f=${f#/proc/}
                printf '%s\n' "${f%/cmdline}"
                ;;
        esac
    done
}

install_broker() {
    [ -x "$TANSU_BIN" ] && return 0
    mkdir -p "$TOOLS_DIR"
    local pids waited=0
    pids=$(foreign_tansu_builds | tr '\n' ' ')
    if [ -n "$pids" ]; then
        say "broker: a tansu $TANSU_VERSION build is already running (pid ${pids% }), waiting for it"
        while [ -n "$(foreign_tansu_builds)" ]; do
            sleep 5
            waited=$((waited + 5))
            if ((waited % 120 == 0)); then say "broker: still waiting for the tansu build (${waited}s)"; fi
        done
        [ -x "$TANSU_BIN" ] && {
            say "broker: tansu $TANSU_VERSION ready at $TANSU_BIN"
            return 0
        }
        warn "broker: the other tansu build finished without producing $TANSU_BIN; building it here"
    fi
    command -v cargo >/dev/null || die "broker: cargo not found; needed to build tansu $TANSU_VERSION"
    local build_log=$TOOLS_DIR/tansu-$TANSU_VERSION-build.log
    (
        # Serialize concurrent `scripts/services` builds.
        exec 9>"$TOOLS_DIR/tansu-$TANSU_VERSION.lock"
        flock 9
        [ -x "$TANSU_BIN" ] && exit 0
        say "broker: building tansu $TANSU_VERSION (about 14 min on 2 cores), log: $build_log"
        if ! cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql \
            --root "$TANSU_ROOT" >"$build_log" 2>&1; then
            show_log_tail "$build_log"
            die "broker: cargo install tansu $TANSU_VERSION failed (log: $build_log)"
        fi
    )
    [ -x "$TANSU_BIN" ] || die "broker: $TANSU_BIN missing after build"
    say "broker: tansu $TANSU_VERSION installed at $TANSU_BIN"
}

# When the broker runs, use the port of its --listener-url (warn if the environment asks otherwise).
broker_adopt_running_port() {
    local port
    port=$(tr '\0' '\n' <"/proc/$1/cmdline" | sed -n 's,^tcp://127\.0\.0\.1:\([0-9]*\)$,\1,p' | head -n1)
    [ -n "$port" ] || return 0
    [ "$port" = "$KAFKA_PORT" ] || warn "broker: runs on port $port (not $KAFKA_PORT); restart it to change ports"
    KAFKA_PORT=$port
}

broker_answers() {
    tcp_open "$KAFKA_PORT" &&
        timeout 5 "$TANSU_BIN" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}

start_broker() {
    local pid
    if pid=$(live_pid "$BROKER_PID" tansu); then
        broker_adopt_running_port "$pid"
        say "broker: already running (pid $pid, port $KAFKA_PORT)"
        return 0
    fi
    clean_stale_pid "$BROKER_PID" broker tansu
    require_free_port broker "$KAFKA_PORT" kafka
    mkdir -p "$BROKER_DIR"
    # sqlite:// paths are relative to the working directory: run from the data dir.
    (
        cd "$BROKER_DIR" || exit 1
        launch "$BROKER_LOG" "$BROKER_PID" env RUST_LOG="${BROKER_RUST_LOG:-warn}" "$TANSU_BIN" broker \
            --cluster-id tansu_cluster \
            --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
            --storage-engine sqlite://tansu.db
    )
    pid=$(tr -dc '0-9' <"$BROKER_PID")
    local deadline=$((SECONDS + START_TIMEOUT))
    until broker_answers; do
        if ! pid_alive "$pid"; then
            rm -f "$BROKER_PID"
            show_log_tail "$BROKER_LOG"
            die "broker: tansu exited during startup (log: $BROKER_LOG)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail "$BROKER_LOG"
            die "broker: pid $pid not answering metadata on 127.0.0.1:$KAFKA_PORT after ${START_TIMEOUT}s (log: $BROKER_LOG)"
        fi
        sleep 0.3
    done
    say "broker: started tansu (pid $pid, port $KAFKA_PORT, data $BROKER_DIR)"
}

# ---------------------------------------------------------------- clickhouse
ch_server_bin() {
    command -v clickhouse-server 2>/dev/null ||
        { [ -x /usr/sbin/clickhouse-server ] && echo /usr/sbin/clickhouse-server; } ||
        return 1
}

install_librdkafka() {
    [ "$CH_LIBRDKAFKA" = system ] && return 0
    if [ -n "${CLICKHOUSE_LIBRDKAFKA:-}" ]; then
        [ -f "$CH_LIBRDKAFKA" ] || die "clickhouse: CLICKHOUSE_LIBRDKAFKA=$CH_LIBRDKAFKA does not exist"
        return 0
    fi
    [ -e "$RDKAFKA_DIR/librdkafka.so.1" ] && return 0
    local py tmp lib version
    py=$(command -v python3 || true)
    [ -n "$py" ] || die "clickhouse: python3 (with pip) is needed to fetch librdkafka"
    tmp=$(mktemp -d)
    say "clickhouse: fetching librdkafka from the confluent-kafka $CONFLUENT_KAFKA_VERSION wheel into $RDKAFKA_DIR"
    # The library inside is independent of the Python version: pin the wheel tag.
    if ! "$py" -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux_2_28_x86_64 --implementation cp --python-version 3.11 --abi cp311 \
        "confluent-kafka==$CONFLUENT_KAFKA_VERSION" -d "$tmp" >"$tmp/pip.log" 2>&1; then
        cat "$tmp/pip.log" >&2
        rm -rf "$tmp"
        die "clickhouse: pip download confluent-kafka==$CONFLUENT_KAFKA_VERSION failed"
    fi
    "$py" - "$tmp" <<'EOF'
import glob, sys, zipfile
tmp = sys.argv[1]
whl = glob.glob(tmp + "/confluent_kafka-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("confluent_kafka.libs/") and not n.endswith("/"):
            z.extract(n, tmp)
EOF
    lib=$(find "$tmp/confluent_kafka.libs" -name 'librdkafka*.so*' | head -n1)
    [ -n "$lib" ] || die "clickhouse: no librdkafka in the confluent-kafka wheel"
    chmod 755 "$tmp/confluent_kafka.libs"/*
    ln -s "$(basename "$lib")" "$tmp/confluent_kafka.libs/librdkafka.so.1"
    version=$("$py" -c 'import ctypes, sys
l = ctypes.CDLL(sys.argv[1]); l.rd_kafka_version_str.restype = ctypes.c_char_p
print(l.rd_kafka_version_str().decode())' "$lib")
    case "$version" in 2.1[2-9].*) ;; *) die "clickhouse: wheel librdkafka reports version '$version'" ;; esac
    printf '%s\n' "$version" >"$tmp/confluent_kafka.libs/VERSION"
    mkdir -p "$TOOLS_DIR"
    rm -rf "$RDKAFKA_DIR"
    mv "$tmp/confluent_kafka.libs" "$RDKAFKA_DIR"
    rm -rf "$tmp"
    say "clickhouse: librdkafka $version cached at $RDKAFKA_DIR"
}

install_clickhouse() {
    if ! ch_server_bin >/dev/null || ! command -v clickhouse-client >/dev/null; then
        say "clickhouse: installing clickhouse-server clickhouse-client (apt)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
            clickhouse-server clickhouse-client >/dev/null
        ch_server_bin >/dev/null || die "clickhouse: clickhouse-server still missing after apt-get install"
        # The package's postinst may start the system service (default ports): we run our own.
        if [ -d /run/systemd/system ]; then
            as_root systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
        elif [ -x /etc/init.d/clickhouse-server ]; then
            as_root /etc/init.d/clickhouse-server stop >/dev/null 2>&1 || true
        fi
    fi
    install_librdkafka
}

render_clickhouse_config() {
    mkdir -p "$CH_DIR/log" "$CH_DIR/db"
    local compat=''
    if [ "$CH_LIBRDKAFKA" = system ]; then
        # Debian's librdkafka 2.0.2 cannot do tansu's ApiVersion v3 handshake.
        compat='        <api_version_request>false</api_version_request>
        <broker_version_fallback>0.9.0</broker_version_fallback>'
    fi
    local remote='' cluster="${CLICKHOUSE_CLUSTER:-}"
    if [ -n "$cluster" ]; then
        # NAME=HOST:PORT,HOST:PORT -> one shard of one replica per server.
        [[ "$cluster" =~ ^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_.-]+:[0-9]+(,[A-Za-z0-9_.-]+:[0-9]+)*$ ]] ||
            die "CLICKHOUSE_CLUSTER=$cluster: expected NAME=HOST:TCP_PORT,HOST:TCP_PORT,..."
        local name=${cluster%%=*} server
        local -a servers
        remote="    <remote_servers>
        <$name>"
        IFS=, read -ra servers <<<"${cluster#*=}"
        for server in "${servers[@]}"; do
            remote="$remote
            <shard><replica><host>${server%:*}</host><port>${server##*:}</port></replica></shard>"
        done
        remote="$remote
        </$name>
    </remote_servers>"
    fi
    local f tmp
    for f in config users; do
        tmp=$(mktemp "$CH_DIR/.$f.xml.XXXXXX")
        awk -v dir="$CH_DIR/" -v http="$CH_HTTP_PORT" -v tcp="$CH_TCP_PORT" \
            -v level="$CH_LOG_LEVEL" -v compat="$compat" -v remote="$remote" '
            /^@KAFKA_COMPAT@$/ { if (compat != "") print compat; next }
            /^@REMOTE_SERVERS@$/ { if (remote != "") print remote; next }
            { gsub(/@DIR@/, dir); gsub(/@HTTP_PORT@/, http); gsub(/@TCP_PORT@/, tcp)
              gsub(/@LOG_LEVEL@/, level); print }' \
            "$SCRIPT_DIR/clickhouse/$f.xml.in" >"$tmp"
        mv "$tmp" "$CH_DIR/$f.xml"
    done
}

# When the instance runs, use the ports of its rendered config (warn if the environment asks otherwise).
ch_adopt_running_ports() {
    local http tcp
    http=$(sed -n 's:.*<http_port>\([0-9]*\)</http_port>.*:\1:p' "$CH_DIR/config.xml" 2>/dev/null)
    tcp=$(sed -n 's:.*<tcp_port>\([0-9]*\)</tcp_port>.*:\1:p' "$CH_DIR/config.xml" 2>/dev/null)
    [ -n "$http" ] && [ -n "$tcp" ] || return 0
    if [ "$http/$tcp" != "$CH_HTTP_PORT/$CH_TCP_PORT" ]; then
        warn "$CH_INSTANCE: runs on http $http, tcp $tcp (not $CH_HTTP_PORT/$CH_TCP_PORT); restart it to change ports"
    fi
    CH_HTTP_PORT=$http CH_TCP_PORT=$tcp
}

ch_ping() { [ "$(curl -sf --max-time 2 "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; }

start_clickhouse() {
    local pid name=$CH_INSTANCE server
    if pid=$(live_pid "$CH_PID" clickhouse-server); then
        ch_adopt_running_ports
        say "$name: already running (pid $pid, http $CH_HTTP_PORT, tcp $CH_TCP_PORT)"
        return 0
    fi
    clean_stale_pid "$CH_PID" "$name" clickhouse-server
    require_free_port "$name" "$CH_HTTP_PORT" http
    require_free_port "$name" "$CH_TCP_PORT" tcp
    server=$(ch_server_bin) || die "$name: clickhouse-server not installed (run: scripts/services install clickhouse)"
    render_clickhouse_config
    local -a envs=()
    [ "$CH_LIBRDKAFKA" = system ] || envs=("LD_PRELOAD=$CH_LIBRDKAFKA")
    (
        cd "$CH_DIR" || exit 1
        launch "$CH_STDERR" "$CH_PID" env "${envs[@]}" "$server" --config-file="$CH_DIR/config.xml"
    )
    pid=$(tr -dc '0-9' <"$CH_PID")
    local deadline=$((SECONDS + START_TIMEOUT))
    until ch_ping; do
        if ! pid_alive "$pid"; then
            rm -f "$CH_PID"
            show_log_tail "$CH_STDERR" "$CH_ERRLOG"
            die "$name: clickhouse-server exited during startup (logs: $CH_STDERR $CH_ERRLOG)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail "$CH_STDERR" "$CH_ERRLOG"
            die "$name: pid $pid not answering http://127.0.0.1:$CH_HTTP_PORT/ping after ${START_TIMEOUT}s (logs: $CH_STDERR $CH_ERRLOG)"
        fi
        sleep 0.3
    done
    local lib="Debian's librdkafka with api_version_request=false"
    if [ "$CH_LIBRDKAFKA" != system ]; then
        if grep -q "$(readlink -f "$CH_LIBRDKAFKA")" "/proc/$pid/maps"; then
            lib="librdkafka $(cat "$(dirname "$CH_LIBRDKAFKA")/VERSION" 2>/dev/null || echo "$CH_LIBRDKAFKA") preloaded"
        else
            warn "$name: LD_PRELOAD $CH_LIBRDKAFKA is not mapped in pid $pid; the Kafka engine will fail against tansu"
            lib="librdkafka NOT preloaded"
        fi
    fi
    say "$name: started clickhouse-server (pid $pid, http $CH_HTTP_PORT, tcp $CH_TCP_PORT, $lib, data $CH_DIR)"
}

# ---------------------------------------------------------------- generic commands
stop_service() {
    case "$1" in
        broker) stop_pidfile broker "$BROKER_PID" tansu ;;
        clickhouse) stop_pidfile "$CH_INSTANCE" "$CH_PID" clickhouse-server ;;
    esac
}

status_service() {
    local pid
    case "$1" in
        broker)
            if ! pid=$(live_pid "$BROKER_PID" tansu); then
                say "broker: stopped$(stale_note "$BROKER_PID")"
                return 1
            fi
            broker_adopt_running_port "$pid"
            if ! broker_answers; then
                say "broker: running (pid $pid, port $KAFKA_PORT) but not answering metadata"
                return 1
            fi
            say "broker: running (pid $pid, port $KAFKA_PORT)"
            ;;
        clickhouse)
            if ! pid=$(live_pid "$CH_PID" clickhouse-server); then
                say "$CH_INSTANCE: stopped$(stale_note "$CH_PID")"
                return 1
            fi
            ch_adopt_running_ports
            if ! ch_ping; then
                say "$CH_INSTANCE: running (pid $pid, http $CH_HTTP_PORT) but not answering /ping"
                return 1
            fi
            say "$CH_INSTANCE: running (pid $pid, http $CH_HTTP_PORT, tcp $CH_TCP_PORT)"
            ;;
    esac
}

cmd_logs() {
    local svc=$1 follow=${2:-}
    local -a files
    case "$svc" in
        broker) files=("$BROKER_LOG") ;;
        clickhouse) files=("$CH_STDERR" "$CH_LOG" "$CH_ERRLOG") ;;
        *) usage ;;
    esac
    case "$follow" in '' | -f) ;; *) usage ;; esac
    local f existing=()
    for f in "${files[@]}"; do
        if [ -e "$f" ]; then existing+=("$f"); else say "$f (not created yet)"; fi
    done
    [ ${#existing[@]} -gt 0 ] || return 0
    if [ "$follow" = -f ]; then
        exec tail -n 20 -F "${existing[@]}"
    fi
    tail -n 20 "${existing[@]}"
}
