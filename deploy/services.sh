#!/usr/bin/env bash
# Start/stop the local Kafka broker and PostgreSQL that the integration tests and benchmarks use.
#
#   deploy/services.sh start    start both (each is a no-op when already running)
#   deploy/services.sh stop     stop both (only what deploy/kafka.sh and deploy/postgres.sh started)
#   deploy/services.sh status   status of both; exit 0 only if both are up
#   deploy/services.sh env      print export lines for the tests:  eval "$(deploy/services.sh env)"
#
# An existing service overrides a local one: when SHUYUAN_TEST_KAFKA_BOOTSTRAP or
# SHUYUAN_TEST_DATABASE_URL is already set, that service is neither started nor stopped here,
# and `env` echoes the given value.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

kafka_bootstrap() { printf '%s\n' "${SHUYUAN_TEST_KAFKA_BOOTSTRAP:-127.0.0.1:${SHUYUAN_KAFKA_PORT:-9092}}"; }
database_url() {
    printf '%s\n' "${SHUYUAN_TEST_DATABASE_URL:-postgresql+psycopg://shuyuan:shuyuan@127.0.0.1:${SHUYUAN_PG_PORT:-54329}/shuyuan_test}"
}

# Runs "$@" for each service that is ours to manage.
each_service() {
    local rc=0
    if [[ -n "${SHUYUAN_TEST_KAFKA_BOOTSTRAP:-}" ]]; then
        echo "[kafka] SHUYUAN_TEST_KAFKA_BOOTSTRAP=$SHUYUAN_TEST_KAFKA_BOOTSTRAP is set: using that broker" >&2
    else
        "$DEPLOY_DIR/kafka.sh" "$@" || rc=$?
    fi
    if [[ -n "${SHUYUAN_TEST_DATABASE_URL:-}" ]]; then
        echo "[postgres] SHUYUAN_TEST_DATABASE_URL is set: using that database" >&2
    else
        "$DEPLOY_DIR/postgres.sh" "$@" || rc=$?
    fi
    return "$rc"
}

case "${1:-}" in
    start)
        # Kafka's JVM start-up is the slow part: run both at once, fail if either fails.
        if [[ -z "${SHUYUAN_TEST_KAFKA_BOOTSTRAP:-}" && -z "${SHUYUAN_TEST_DATABASE_URL:-}" ]]; then
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
        printf 'export SHUYUAN_TEST_KAFKA_BOOTSTRAP=%q\n' "$(kafka_bootstrap)"
        printf 'export SHUYUAN_TEST_DATABASE_URL=%q\n' "$(database_url)"
        ;;
    *)
        echo "usage: $0 {start|stop|status|env}" >&2
        exit 2
        ;;
esac
