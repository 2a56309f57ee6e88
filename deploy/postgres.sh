#!/usr/bin/env bash
# Local PostgreSQL cluster of our own (not the system one) for tests and benchmarks.
#
#   deploy/postgres.sh install   find the PostgreSQL server binaries; apt-get install postgresql if missing
#   deploy/postgres.sh start     initdb once, start on 127.0.0.1:$SHUYUAN_PG_PORT, ensure role and databases
#   deploy/postgres.sh stop      stop our cluster (never the system's)
#   deploy/postgres.sh status    "running" (exit 0) or "not running" (exit 1)
#
# Environment: SHUYUAN_STATE_DIR (default <repo>/.state), SHUYUAN_PG_PORT (54329).
# As root the server runs as the OS user `postgres` (PostgreSQL refuses root). If that user cannot
# reach <state>/postgres (e.g. the repo lives under /root), the cluster goes to
# /var/tmp/shuyuan-<hash of the state dir>/postgres instead, and <state>/postgres.location says so.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$DEPLOY_DIR")"
STATE_ROOT="${SHUYUAN_STATE_DIR:-$REPO_ROOT/.state}"
HOST=127.0.0.1
PORT="${SHUYUAN_PG_PORT:-54329}"
APP_USER=shuyuan
APP_PASSWORD=shuyuan
DATABASES=(shuyuan shuyuan_test)
START_TIMEOUT=60

log() { printf '[postgres] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- binaries and OS user --------------------------------------------------------------------------

has_server_bins() { [[ -x "$1/postgres" && -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/psql" && -x "$1/pg_isready" ]]; }

find_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$d" ]] && has_server_bins "$d"; then printf '%s\n' "$d"; return 0; fi
    fi
    # newest major version first
    while IFS= read -r d; do
        if has_server_bins "$d"; then printf '%s\n' "$d"; return 0; fi
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -rV)
    if command -v initdb >/dev/null 2>&1; then
        d="$(dirname "$(readlink -f "$(command -v initdb)")")"
        if has_server_bins "$d"; then printf '%s\n' "$d"; return 0; fi
    fi
    return 1
}

ensure_binaries() {
    if ! BINDIR="$(find_bindir)"; then
        [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries not found; install Debian's postgresql package (as root)"
        log "PostgreSQL server binaries not found: installing Debian package postgresql"
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
        BINDIR="$(find_bindir)" || die "postgresql installed but no server binaries found"
    fi
}

# PostgreSQL will not run as root: as root, use the `postgres` OS user (create it if missing).
ensure_os_user() {
    if [[ $EUID -ne 0 ]]; then
        PG_OS_USER="$(id -un)"
        return 0
    fi
    PG_OS_USER=postgres
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating system user postgres"
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /usr/sbin/nologin postgres
    fi
}

# Run a command as the cluster's OS user, from / (so no "could not change directory" warnings).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

# --- locations -------------------------------------------------------------------------------------

resolve_paths() {
    mkdir -p "$STATE_ROOT"
    STATE_ROOT="$(cd "$STATE_ROOT" && pwd -P)"
    local hash fallback location_file="$STATE_ROOT/postgres.location"
    hash="$(printf '%s' "$STATE_ROOT" | sha256sum | cut -c1-12)"
    fallback="/var/tmp/shuyuan-$hash/postgres"
    PG_ROOT="$STATE_ROOT/postgres"
    if ! as_pg test -x "$STATE_ROOT"; then
        if [[ ! -f "$location_file" && -d "$fallback" ]]; then
            # the state dir was removed (a reset): drop the old out-of-tree cluster as well
            if [[ -f "$fallback/data/postmaster.pid" ]] && as_pg "$BINDIR/pg_ctl" status -D "$fallback/data" >/dev/null 2>&1; then
                die "$fallback is running but $location_file is gone; stop it with: pg_ctl -D $fallback/data stop"
            fi
            log "state dir was reset: removing the old cluster in $fallback"
            rm -rf "$fallback"
        fi
        PG_ROOT="$fallback"
        printf '%s\n' "$PG_ROOT" >"$location_file"
    fi
    DATA="$PG_ROOT/data"
    LOG_FILE="$PG_ROOT/log/postgres.log"
    SOCKET_DIR="$PG_ROOT/run"
    # a Unix socket path must fit in 107 bytes
    if ((${#SOCKET_DIR} + 20 > 107)); then
        SOCKET_DIR="/tmp/shuyuan-pg-$hash"
    fi
}

prepare_dirs() {
    local d
    for d in "$PG_ROOT" "$PG_ROOT/log" "$SOCKET_DIR"; do
        mkdir -p "$d"
        [[ $EUID -eq 0 ]] && chown "$PG_OS_USER:" "$d"
        chmod 700 "$d"
    done
    if [[ "$PG_ROOT" != "$STATE_ROOT/postgres" ]]; then
        log "note: $PG_OS_USER cannot use $STATE_ROOT, so the cluster lives in $PG_ROOT"
    fi
}

# --- cluster ---------------------------------------------------------------------------------------

server_major() { "$BINDIR/postgres" --version | awk '{ split($3, v, "."); print v[1] }'; }

init_cluster() {
    if [[ -f "$DATA/PG_VERSION" ]]; then
        local have want
        have="$(cat "$DATA/PG_VERSION")"
        want="$(server_major)"
        [[ "$have" == "$want" ]] || die "cluster in $DATA is PostgreSQL $have but the binaries are $want; reset: deploy/postgres.sh stop && rm -rf '$PG_ROOT'"
        return 0
    fi
    log "initdb $DATA (PostgreSQL $(server_major))"
    rm -rf "$DATA"
    if ! as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --encoding=UTF8 --no-locale \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_ROOT/log/initdb.log" 2>&1; then
        cat "$PG_ROOT/log/initdb.log" >&2
        die "initdb failed"
    fi
    # local socket: trust (the socket dir is mode 700, only the cluster's OS user and root get in);
    # TCP on loopback: passwords (SCRAM)
    as_pg tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# Generated by deploy/postgres.sh
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
EOF
    printf "\ninclude_if_exists = 'shuyuan.conf'\n" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

# Settings that follow the environment (port, socket dir) are rewritten on every start.
write_conf() {
    as_pg tee "$DATA/shuyuan.conf" >/dev/null <<EOF
# Generated by deploy/postgres.sh on every start; edit the script, not this file.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 200
shared_buffers = 256MB
# durability stays on: the tests check durability claims
fsync = on
synchronous_commit = on
full_page_writes = on
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_connections = off
log_disconnections = off
EOF
}

postmaster_pid() { [[ -f "$DATA/postmaster.pid" ]] && head -n 1 "$DATA/postmaster.pid"; }

# A process state other than Z (zombie): a killed postmaster may linger unreaped for a while.
pid_live() { [[ "$1" =~ ^[0-9]+$ && -r "/proc/$1/stat" ]] && [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

our_cluster_running() {
    local pid
    pid="$(postmaster_pid)" || return 1
    pid_live "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DATA"
}

# After a crash the dead postmaster can stay a zombie until reaped; PostgreSQL would then refuse
# to start ("lock file already exists"), so give the reaper a few seconds.
wait_for_dead_postmaster() {
    local pid i
    pid="$(postmaster_pid)" || return 0
    for ((i = 0; i < 50; i++)); do
        [[ -e "/proc/$pid" ]] || return 0
        pid_live "$pid" && return 0     # alive and not ours (pid reused): postgres handles that
        sleep 0.2
    done
    log "warning: the previous postmaster (pid $pid) is still an unreaped zombie"
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

psql_super() {
    as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres "$@"
}

app_login_works() {
    PGPASSWORD="$APP_PASSWORD" PGCONNECT_TIMEOUT=3 "$BINDIR/psql" -X -q -A -t \
        -h "$HOST" -p "$PORT" -U "$APP_USER" -d shuyuan_test -c 'select 1' >/dev/null 2>&1
}

ensure_role_and_dbs() {
    local sql db
    sql="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END \$\$;
-- DROP DATABASE ... WITH (FORCE) in the tests must be able to end autovacuum workers too.
GRANT pg_signal_backend TO $APP_USER;"
    for db in "${DATABASES[@]}"; do
        sql+="
SELECT 'CREATE DATABASE $db OWNER $APP_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \\gexec
ALTER DATABASE $db OWNER TO $APP_USER;"
    done
    printf '%s\n' "$sql" | psql_super -f - >/dev/null || die "could not create role $APP_USER / databases ${DATABASES[*]}"
}

fail_start() {
    log "ERROR: $*"
    if [[ -s "$LOG_FILE" ]]; then
        log "last 50 lines of $LOG_FILE:"
        tail -n 50 "$LOG_FILE" >&2
    fi
    exit 1
}

setup() {
    ensure_binaries
    ensure_os_user
    resolve_paths
}

# For stop/status: never install anything; without binaries nothing of ours can be running.
setup_no_install() {
    BINDIR="$(find_bindir)" || return 1
    ensure_os_user
    resolve_paths
}

# --- commands --------------------------------------------------------------------------------------

cmd_install() {
    ensure_binaries
    ensure_os_user
    log "server binaries: $BINDIR (PostgreSQL $(server_major)), OS user $PG_OS_USER"
}

cmd_start() {
    setup
    if our_cluster_running; then
        "$BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -t 10 \
            || fail_start "our cluster runs but does not accept connections on $HOST:$PORT (port changed? run stop, then start)"
        ensure_role_and_dbs
        log "already running on $HOST:$PORT"
        return 0
    fi
    prepare_dirs
    exec 9>"$PG_ROOT/start.lock"
    flock -w 180 9 || die "timed out waiting for another start (lock $PG_ROOT/start.lock)"
    if ! our_cluster_running; then
        if port_in_use; then
            if app_login_works; then
                log "another PostgreSQL on $HOST:$PORT accepts $APP_USER/shuyuan_test: using it, not starting ours"
                return 0
            fi
            die "port $HOST:$PORT is taken by another program (set SHUYUAN_PG_PORT, or SHUYUAN_TEST_DATABASE_URL for an existing database)"
        fi
        init_cluster
        write_conf
        wait_for_dead_postmaster
        local t0=$SECONDS
        log "starting cluster $DATA on $HOST:$PORT"
        # 9>&-: the server must not inherit (and so hold forever) the start lock
        as_pg "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG_FILE" -w -t "$START_TIMEOUT" -s >/dev/null 2>&1 9>&- \
            || fail_start "pg_ctl start failed"
        log "started in $((SECONDS - t0)) s"
    fi
    "$BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -t 30 || fail_start "not accepting connections on $HOST:$PORT"
    ensure_role_and_dbs
    app_login_works || fail_start "cannot log in as $APP_USER over TCP on $HOST:$PORT"
    log "ready on $HOST:$PORT (databases ${DATABASES[*]}, user $APP_USER)"
}

cmd_stop() {
    if ! setup_no_install || ! our_cluster_running; then
        log "not running"
        return 0
    fi
    local t0=$SECONDS
    log "stopping cluster $DATA"
    as_pg "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -t "$START_TIMEOUT" -s \
        || die "pg_ctl stop failed (see $LOG_FILE)"
    log "stopped after $((SECONDS - t0)) s"
}

cmd_status() {
    if ! setup_no_install; then
        echo "[postgres] not running (no PostgreSQL server binaries)"
        return 1
    fi
    if our_cluster_running && "$BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -t 3; then
        echo "[postgres] running on $HOST:$PORT (data $DATA)"
        return 0
    fi
    if port_in_use && app_login_works; then
        echo "[postgres] running on $HOST:$PORT (not started by this script)"
        return 0
    fi
    echo "[postgres] not running"
    return 1
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 {install|start|stop|status}" >&2
        exit 2
        ;;
esac
