#!/usr/bin/env bash
# Local Apache Kafka 4.x broker (KRaft, combined broker+controller, one node) for tests and benchmarks.
#
#   deploy/kafka.sh install   fetch the broker jars from Maven Central into deploy/kafka/lib (skipped when complete)
#   deploy/kafka.sh start     install, format storage once, start the broker, wait until it serves requests
#   deploy/kafka.sh stop      stop the broker this script started (pid file), wait for it to exit
#   deploy/kafka.sh status    "running" (exit 0) or "not running" (exit 1)
#
# Environment: SHUYUAN_STATE_DIR (default <repo>/.state), SHUYUAN_KAFKA_PORT (9092),
# SHUYUAN_KAFKA_CONTROLLER_PORT (9093), SHUYUAN_KAFKA_START_TIMEOUT (seconds, 90), SHUYUAN_KAFKA_HEAP (512m).
# TLS: SHUYUAN_KAFKA_SSL=1 adds an SSL listener on SHUYUAN_KAFKA_SSL_PORT (9094) that requires client
# certificates, with a PEM keystore from `shuyuan pki` in SHUYUAN_KAFKA_PKI_DIR (<repo>/var/pki; the CA
# and the `kafka-broker` certificate are created there if missing), and it means the secured profile
# below unless SHUYUAN_KAFKA_SECURED=0 (then the plaintext listener stays on 127.0.0.1: TLS only,
# without an authorizer, for tests of the TLS hops; see docs/crypto.md).
# Secured profile: SHUYUAN_KAFKA_SECURED=1 (implies SSL; the default with SSL=1) is the production shape (docs/security.md,
# "Kafka ACLs"): no PLAINTEXT listener at all (SHUYUAN_KAFKA_PORT is unused), the controller listener
# on 127.0.0.1 also speaks mutual TLS, inter-broker traffic goes over SSL, and KRaft's StandardAuthorizer
# denies what no ACL allows (`shuyuan kafka acls` writes them). The principal of a client certificate is
# its CN (`CN=connector-psb,O=Shuyuan` -> `User:connector-psb`). Super users: the broker itself
# (`kafka-broker`, a server certificate with clientAuth too, since it connects to its own controller
# listener) and SHUYUAN_KAFKA_SUPER_USERS (comma-separated CNs, default `kafka-admin`, the certificate
# that applies ACLs); both certificates are created with `shuyuan pki` when missing. The health checks
# speak TLS with the broker's certificate (openssl s_client).
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$DEPLOY_DIR")"
KAFKA_HOME="$DEPLOY_DIR/kafka"
POM="$KAFKA_HOME/pom.xml"
LIB_DIR="$KAFKA_HOME/lib"
STAMP="$LIB_DIR/.complete"

STATE_ROOT="${SHUYUAN_STATE_DIR:-$REPO_ROOT/.state}"
STATE="$STATE_ROOT/kafka"
DATA_DIR="$STATE/data"
LOG_DIR="$STATE/logs"
PID_FILE="$STATE/kafka.pid"
CONFIG="$STATE/server.properties"
LOG4J_CONFIG="$STATE/log4j2.properties"
TOOLS_LOG4J_CONFIG="$STATE/tools-log4j2.properties"
CLUSTER_ID_FILE="$STATE/cluster.id"

HOST=127.0.0.1
PORT="${SHUYUAN_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${SHUYUAN_KAFKA_CONTROLLER_PORT:-9093}"
START_TIMEOUT="${SHUYUAN_KAFKA_START_TIMEOUT:-90}"
HEAP="${SHUYUAN_KAFKA_HEAP:-512m}"
SSL="${SHUYUAN_KAFKA_SSL:-0}"
SSL_PORT="${SHUYUAN_KAFKA_SSL_PORT:-9094}"
PKI_DIR="${SHUYUAN_KAFKA_PKI_DIR:-$REPO_ROOT/var/pki}"
# SSL implies the secured profile (issue 9: TLS without ACLs is no boundary); SHUYUAN_KAFKA_SECURED=0
# keeps the TLS-only broker with a loopback PLAINTEXT listener, for tests of the TLS hops alone.
SECURED="${SHUYUAN_KAFKA_SECURED:-$SSL}"
SUPER_USERS="${SHUYUAN_KAFKA_SUPER_USERS:-kafka-admin}"
[[ "$SECURED" == 1 ]] && SSL=1
# The port health checks and messages name: the SSL listener when there is no PLAINTEXT one.
CLIENT_PORT="$PORT"
[[ "$SECURED" == 1 ]] && CLIENT_PORT="$SSL_PORT"
CLIENT_CONFIG="$STATE/client-ssl.properties"
STOP_TIMEOUT=60
NODE_ID=1
LOG_OFFSET=0      # size of server.log before this start: failure reports show only what came after
STARTED_PID=      # set once this invocation has launched a broker

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

java_bin() {
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        printf '%s\n' "$JAVA_HOME/bin/java"
    elif command -v java >/dev/null 2>&1; then
        command -v java
    else
        return 1
    fi
}

# Install a Debian package when a tool is missing (only possible as root).
apt_install() {
    [[ $EUID -eq 0 ]] || die "$1 is missing and this is not root: install Debian package(s) ${*:2} by hand"
    command -v apt-get >/dev/null 2>&1 || die "$1 is missing and apt-get is not available"
    log "$1 not found: installing Debian package(s) ${*:2}"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${@:2}" >&2
}

ensure_java() {
    if ! java_bin >/dev/null; then
        apt_install java openjdk-17-jre-headless
    fi
    local java major
    java="$(java_bin)" || die "java not found"
    major="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
    [[ "${major%%.*}" -ge 17 ]] 2>/dev/null || die "Kafka 4 needs Java 17 or newer, $java is ${major:-unknown}"
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

lib_complete() { [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_sum)" ]]; }

cmd_install() {
    lib_complete && return 0
    mkdir -p "$STATE"
    exec 8>"$STATE/install.lock"
    flock -w 600 8 || die "timed out waiting for another install (lock $STATE/install.lock)"
    lib_complete && return 0          # another process installed while we waited
    ensure_java
    command -v mvn >/dev/null 2>&1 || apt_install mvn maven
    local tmp="$KAFKA_HOME/lib.tmp.$$" t0=$SECONDS
    rm -rf "$tmp"
    log "fetching broker jars with Maven (pom sha256 $(pom_sum | cut -c1-12))"
    if ! (cd "$KAFKA_HOME" && mvn -B -q dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$STATE/install.log" 2>&1); then
        cat "$STATE/install.log" >&2
        rm -rf "$tmp"
        die "mvn dependency:copy-dependencies failed (output above, also in $STATE/install.log)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "mvn produced no kafka_2.13 jar"; }
    pom_sum >"$tmp/.complete"
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    if our_pid >/dev/null; then
        log "warning: the running broker still uses the jars it started with: restart it (stop, then start)"
    fi
    log "installed $(find "$LIB_DIR" -name '*.jar' | wc -l) jars into ${LIB_DIR#"$REPO_ROOT"/} in $((SECONDS - t0)) s"
}

# --- process helpers -------------------------------------------------------------------------------

# The pid from the pid file, if that process is alive and is our broker (guards against pid reuse).
our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $CONFIG" || return 1
    printf '%s\n' "$pid"
}

# A real Kafka request without a JVM: ApiVersions v0 over bash's /dev/tcp; succeeds when the reply
# carries our correlation id (any error code still means a Kafka broker answered on the port).
kafka_answers() {
    [[ "$SECURED" == 1 ]] && { kafka_answers_tls; return; }
    local reply
    reply="$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/$HOST/$PORT" || exit 1
        # size=10 | api_key=18 (ApiVersions) | api_version=0 | correlation_id=0x5359 | client_id=""
        printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x53\x59\x00\x00' >&3
        timeout 3 head -c 8 <&3 | od -An -tx1 | tr -d ' \n'
    )" || return 1
    [[ "${reply:8:8}" == "00005359" ]]
}

# The same ApiVersions request over mutual TLS, as the broker's own certificate (the secured profile
# has no plaintext listener to ask). -quiet implies -ign_eof: s_client keeps reading after stdin ends.
kafka_answers_tls() {
    [[ -s "$PKI_DIR/kafka-broker.key" ]] || return 1
    local reply
    reply="$(
        printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x53\x59\x00\x00' \
            | timeout 5 openssl s_client -quiet -connect "$HOST:$SSL_PORT" -verify_return_error \
                -CAfile "$PKI_DIR/ca.crt" -cert "$PKI_DIR/kafka-broker.crt" -key "$PKI_DIR/kafka-broker.key" \
                2>/dev/null | head -c 8 | od -An -tx1 | tr -d ' \n'
    )" || true
    [[ "${reply:8:8}" == "00005359" ]]
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

run_tool() {
    local java
    java="$(java_bin)"
    timeout 120 "$java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j2.configurationFile="$TOOLS_LOG4J_CONFIG" -cp "$LIB_DIR/*" "$@"
}

# --- configuration ---------------------------------------------------------------------------------

# The broker's certificate for the SSL listener, made with `shuyuan pki` when missing.
ensure_broker_pki() {
    [[ "$SECURED" == 1 ]] && { ensure_secured_pki; return; }
    [[ -s "$PKI_DIR/kafka-broker.keystore.pem" ]] && return 0
    local shuyuan="$REPO_ROOT/.venv/bin/shuyuan"
    [[ -x "$shuyuan" ]] || die "no $PKI_DIR/kafka-broker.keystore.pem and no $shuyuan to create it (make install)"
    [[ -s "$PKI_DIR/ca.key" ]] || "$shuyuan" pki init --dir "$PKI_DIR" >&2
    "$shuyuan" pki server kafka-broker --dir "$PKI_DIR" >&2
}

# Secured profile: the broker certificate must also authenticate as a client (its own controller
# listener requires one), and the first super user gets a client certificate to apply ACLs with.
ensure_secured_pki() {
    local shuyuan="$REPO_ROOT/.venv/bin/shuyuan" admin="${SUPER_USERS%%,*}"
    if [[ ! -s "$PKI_DIR/kafka-broker.keystore.pem" || ! -s "$PKI_DIR/$admin.crt" ]]; then
        [[ -x "$shuyuan" ]] || die "no broker or $admin certificate in $PKI_DIR and no $shuyuan to create them (make install)"
        [[ -s "$PKI_DIR/ca.key" ]] || "$shuyuan" pki init --dir "$PKI_DIR" >&2
        [[ -s "$PKI_DIR/kafka-broker.keystore.pem" ]] \
            || "$shuyuan" pki server kafka-broker --client-auth --dir "$PKI_DIR" >&2
        [[ -s "$PKI_DIR/$admin.crt" ]] || "$shuyuan" pki client "$admin" --dir "$PKI_DIR" >&2
    fi
    openssl x509 -in "$PKI_DIR/kafka-broker.crt" -noout -ext extendedKeyUsage 2>/dev/null \
        | grep -q "TLS Web Client Authentication" \
        || die "$PKI_DIR/kafka-broker.crt cannot authenticate as a client: issue it with" \
            "'shuyuan pki server kafka-broker --client-auth' (remove the old kafka-broker.* first)"
}

# Secured profile: TLS everywhere, the authorizer, CN principals; printed into server.properties.
secured_config() {
    local supers="User:kafka-broker" u
    local IFS=,
    for u in $SUPER_USERS; do supers="$supers;User:$u"; done
    # Kafka reads PEM keystores natively (KIP-651); unprefixed ssl.* settings serve every listener and
    # the broker's own client side (to its controller listener, and inter-broker).
    cat <<EOF
ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=$PKI_DIR/kafka-broker.keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.crt
ssl.enabled.protocols=TLSv1.3,TLSv1.2
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=$supers
EOF
    # `shuyuan pki` subjects are O=Shuyuan,CN=<name>, which RFC 2253 prints CN first. Any other subject
    # keeps its full DN as principal, which no ACL names.
    printf '%s\n' 'ssl.principal.mapping.rules=RULE:^CN=([^,]+),O=Shuyuan$/$1/,DEFAULT'
}

write_config() {
    mkdir -p "$DATA_DIR" "$LOG_DIR"
    local listeners="PLAINTEXT://$HOST:$PORT" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT" ssl_config=""
    local inter_broker=PLAINTEXT
    if [[ "$SECURED" == 1 ]]; then
        ensure_broker_pki
        listeners="SSL://$HOST:$SSL_PORT"
        protocols="CONTROLLER:SSL,SSL:SSL"
        inter_broker=SSL
        ssl_config="$(secured_config)"
        cat >"$CLIENT_CONFIG" <<EOF
# Generated by deploy/kafka.sh: the broker's own certificate (a super user), for the start-up check.
security.protocol=SSL
ssl.keystore.type=PEM
ssl.keystore.location=$PKI_DIR/kafka-broker.keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.crt
EOF
    elif [[ "$SSL" == 1 ]]; then
        ensure_broker_pki
        listeners="$listeners,SSL://$HOST:$SSL_PORT"
        protocols="$protocols,SSL:SSL"
        # Kafka reads PEM keystores natively (KIP-651): key (PKCS#8, unencrypted) + certificate chain.
        ssl_config="listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$PKI_DIR/kafka-broker.keystore.pem
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$PKI_DIR/ca.crt
listener.name.ssl.ssl.enabled.protocols=TLSv1.3,TLSv1.2"
    fi
    cat >"$CONFIG" <<EOF
# Generated by deploy/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=$listeners,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=$listeners,CONTROLLER://$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=$inter_broker
listener.security.protocol.map=$protocols
$ssl_config
log.dirs=$DATA_DIR

# one node: replication factor 1 everywhere, few partitions for the internal topics (fast to create)
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1

# tests create their topics explicitly and must not wait for rebalances
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
delete.topic.enable=true

num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=104857600
EOF
    cat >"$LOG4J_CONFIG" <<EOF
# Generated by deploy/kafka.sh: broker logs go to files in the state dir, nothing to the console.
status = warn
name = shuyuan-kafka

appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = $LOG_DIR/server.log
appender.server.filePattern = $LOG_DIR/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 20MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3

rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server

logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.network.name = kafka.network.RequestChannel\$
logger.network.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
    cat >"$TOOLS_LOG4J_CONFIG" <<'EOF'
# Generated by deploy/kafka.sh: command-line tools log warnings to stderr only.
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
EOF
}

format_storage() {
    # Once only. A changed controller port later is fine: the single voter re-elects itself and
    # the quorum takes its new endpoint (checked with kafka-metadata-quorum describe --status).
    [[ -f "$DATA_DIR/meta.properties" ]] && return 0
    [[ -s "$CLUSTER_ID_FILE" ]] || run_tool kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE"
    log "formatting KRaft storage (cluster id $(cat "$CLUSTER_ID_FILE"), standalone controller quorum)"
    run_tool kafka.tools.StorageTool format --config "$CONFIG" --cluster-id "$(cat "$CLUSTER_ID_FILE")" \
        --standalone --ignore-formatted >"$LOG_DIR/format.log" 2>&1 \
        || { cat "$LOG_DIR/format.log" >&2; die "kafka-storage format failed"; }
}

# Print what the broker logged since this start (last 50 lines), stop the broker we started, exit 1.
fail_start() {
    log "ERROR: $*"
    local f
    for f in "$LOG_DIR/server.log" "$LOG_DIR/kafka.out"; do
        if [[ -s "$f" ]]; then
            log "last 50 lines of $f:"
            if [[ "$f" == "$LOG_DIR/server.log" ]]; then
                tail -c +"$((LOG_OFFSET + 1))" "$f" | tail -n 50 >&2
            else
                tail -n 50 "$f" >&2
            fi
        fi
    done
    if [[ -n "${STARTED_PID:-}" ]] && kill -0 "$STARTED_PID" 2>/dev/null; then
        log "stopping the broker that failed to start (pid $STARTED_PID)"
        kill -TERM "$STARTED_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$STARTED_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$STARTED_PID" 2>/dev/null || true
        rm -f "$PID_FILE"
    fi
    exit 1
}

# --- commands --------------------------------------------------------------------------------------

cmd_start() {
    if kafka_answers; then
        log "already running on $HOST:$CLIENT_PORT"
        return 0
    fi
    cmd_install
    mkdir -p "$STATE"
    exec 9>"$STATE/start.lock"
    flock -w 180 9 || die "timed out waiting for another start (lock $STATE/start.lock)"
    if kafka_answers; then             # started by a concurrent caller while we waited for the lock
        log "already running on $HOST:$CLIENT_PORT"
        return 0
    fi
    ensure_java
    local pid t0=$SECONDS
    if pid="$(our_pid)"; then
        log "broker pid $pid is up but not answering yet; waiting for it"
    else
        local p
        for p in $([[ "$SECURED" == 1 ]] || echo "$PORT") "$CONTROLLER_PORT" $([[ "$SSL" == 1 ]] && echo "$SSL_PORT"); do
            port_in_use "$p" && die "port $HOST:$p is taken by another program (set SHUYUAN_KAFKA_PORT / SHUYUAN_KAFKA_CONTROLLER_PORT)"
        done
        write_config
        format_storage
        local java
        java="$(java_bin)"
        : >"$LOG_DIR/kafka.out"
        LOG_OFFSET="$(stat -c %s "$LOG_DIR/server.log" 2>/dev/null || echo 0)"
        log "starting broker on $HOST:$CLIENT_PORT (controller $HOST:$CONTROLLER_PORT), state in $STATE"
        # setsid: the broker outlives this shell and ignores the caller's Ctrl-C, and keeps the pid;
        # 8>&- 9>&-: it must not inherit (and so hold forever) the install/start lock files.
        setsid nohup "$java" -Xmx"$HEAP" -Xms"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
            -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG" </dev/null >>"$LOG_DIR/kafka.out" 2>&1 8>&- 9>&- &
        pid=$!
        STARTED_PID=$pid
        printf '%s\n' "$pid" >"$PID_FILE"
    fi
    # Wait until the broker answers a Kafka request on its port (it opens the port once unfenced).
    while ! kafka_answers; do
        kill -0 "$pid" 2>/dev/null || fail_start "broker process $pid exited during start-up"
        ((SECONDS - t0 < START_TIMEOUT)) || fail_start "broker did not answer on $HOST:$CLIENT_PORT within $START_TIMEOUT s"
        sleep 0.3
    done
    # One end-to-end metadata round trip through the admin client before declaring it ready.
    local out secure_args=()
    [[ "$SECURED" == 1 ]] && secure_args=(--command-config "$CLIENT_CONFIG")
    if ! out="$(run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$CLIENT_PORT" \
            "${secure_args[@]}" --list 2>&1)"; then
        printf '%s\n' "$out" >&2
        fail_start "broker answers on $HOST:$CLIENT_PORT but listing topics failed"
    fi
    log "ready on $HOST:$CLIENT_PORT (pid $pid) after $((SECONDS - t0)) s"
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        if kafka_answers; then
            log "not stopped: the broker on $HOST:$CLIENT_PORT was not started by this script (no pid file in $STATE)"
        else
            log "not running"
        fi
        return 0
    fi
    log "stopping broker (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local t0=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS - t0 >= STOP_TIMEOUT)); then
            log "broker did not exit within $STOP_TIMEOUT s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    rm -f "$PID_FILE"
    log "stopped after $((SECONDS - t0)) s"
}

cmd_status() {
    local pid
    if kafka_answers; then
        if pid="$(our_pid)"; then
            echo "[kafka] running on $HOST:$CLIENT_PORT (pid $pid, state $STATE)"
        else
            echo "[kafka] running on $HOST:$CLIENT_PORT (not started by this script)"
        fi
        return 0
    fi
    if pid="$(our_pid)"; then
        echo "[kafka] not running: pid $pid exists but does not answer on $HOST:$CLIENT_PORT"
    else
        echo "[kafka] not running"
    fi
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
