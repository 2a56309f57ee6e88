#!/usr/bin/env bash
# Start/stop the local Kafka broker and PostgreSQL that the integration tests and benchmarks use.
#
#   deploy/services.sh start    start both (each is a no-op when already running)
#   deploy/services.sh stop     stop both (only what deploy/kafka.sh and deploy/postgres.sh started)
#   deploy/services.sh status   status of both; exit 0 only if both are up
#   deploy/services.sh env      print export lines for the tests:  eval "$(deploy/services.sh env)"
#
# An existing service overrides a local one: when SHUYUAN_TEST_KAFKA_BOOTSTRAP or
# SHUYUAN_TEST_DATABASE_URL is already set (to anything but the local service's own address, which
# is what `env` prints), that service is neither started nor stopped here, and `env` echoes it.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

LOCAL_KAFKA="127.0.0.1:${SHUYUAN_KAFKA_PORT:-9092}"
LOCAL_DB="postgresql+psycopg://shuyuan:shuyuan@127.0.0.1:${SHUYUAN_PG_PORT:-54329}/shuyuan_test"

kafka_overridden() { [[ -n "${SHUYUAN_TEST_KAFKA_BOOTSTRAP:-}" && "$SHUYUAN_TEST_KAFKA_BOOTSTRAP" != "$LOCAL_KAFKA" ]]; }
db_overridden() { [[ -n "${SHUYUAN_TEST_DATABASE_URL:-}" && "$SHUYUAN_TEST_DATABASE_URL" != "$LOCAL_DB" ]]; }

# Runs "$@" for each service that is ours to manage, one after the other.
each_service() {
    local rc=0
    if kafka_overridden; then
        echo "[kafka] SHUYUAN_TEST_KAFKA_BOOTSTRAP=$SHUYUAN_TEST_KAFKA_BOOTSTRAP is set: leaving that broker alone" >&2
    else
        "$DEPLOY_DIR/kafka.sh" "$@" || rc=$?
    fi
    if db_overridden; then
        echo "[postgres] SHUYUAN_TEST_DATABASE_URL is set: leaving that database alone" >&2
    else
        "$DEPLOY_DIR/postgres.sh" "$@" || rc=$?
    fi
    return "$rc"
}

case "${1:-}" in
    start)
        if ! kafka_overridden && ! db_overridden; then
            # Kafka's JVM start-up is the slow part: start both at once; fail if either fails.
            "$DEPLOY_DIR/kafka.sh" start &
            kafka_pid=$!
            rc=0
            "$DEPLOY_DIR/postgres.sh" start || rc=$?
            wait "$kafka_pid" || rc=$?
            exit "$rc"
        fi
        each_service start
        ;;
    stop) each_service stop ;;
    status) each_service status ;;
    env)
        printf 'export SHUYUAN_TEST_KAFKA_BOOTSTRAP=%q\n' "${SHUYUAN_TEST_KAFKA_BOOTSTRAP:-$LOCAL_KAFKA}"
        printf 'export SHUYUAN_TEST_DATABASE_URL=%q\n' "${SHUYUAN_TEST_DATABASE_URL:-$LOCAL_DB}"
        ;;
    *)
        echo "usage: $0 {start|stop|status|env}" >&2
        exit 2
        ;;
esac
