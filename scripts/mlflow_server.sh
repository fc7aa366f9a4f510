#!/usr/bin/env bash
# An MLflow tracking server backed by PostgreSQL, with artifacts served by the server.
#
#   scripts/mlflow_server.sh start    # PostgreSQL + database/user + mlflow server
#   scripts/mlflow_server.sh stop     # stops the mlflow server (PostgreSQL keeps running)
#   scripts/mlflow_server.sh stop-all # stops both
#   scripts/mlflow_server.sh status
#
# Then: export MLFLOW_TRACKING_URI=http://127.0.0.1:${MLFLOW_PORT:-5000}
#
# Settings (environment): MLFLOW_PORT (5000), MLFLOW_SERVER_DIR (.mlflow-server: pid,
# log and artifact store), PG_DB (imagegen_mlflow), PG_USER (imagegen), PG_PASSWORD
# (imagegen), PG_HOST (127.0.0.1), PG_PORT (5432). Uses the Debian `postgresql`
# package's cluster (run as root, or as a user allowed to `sudo -u postgres`).
set -euo pipefail

MLFLOW_PORT="${MLFLOW_PORT:-5000}"
SERVER_DIR="$(mkdir -p "${MLFLOW_SERVER_DIR:-.mlflow-server}" && cd "${MLFLOW_SERVER_DIR:-.mlflow-server}" && pwd)"
PG_DB="${PG_DB:-imagegen_mlflow}"
PG_USER="${PG_USER:-imagegen}"
PG_PASSWORD="${PG_PASSWORD:-imagegen}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PID_FILE="$SERVER_DIR/mlflow.pid"
LOG_FILE="$SERVER_DIR/mlflow.log"

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

start_postgres() {
  if ! command -v pg_lsclusters > /dev/null; then
    echo "error: PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 1
  fi
  local version
  version="$(pg_lsclusters --no-header | awk 'NR==1 {print $1}')"
  if [ -z "$version" ]; then
    echo "error: no PostgreSQL cluster (pg_createcluster)" >&2
    exit 1
  fi
  if ! pg_lsclusters --no-header | awk 'NR==1 {print $4}' | grep -q online; then
    if [ "$(id -u)" -eq 0 ]; then pg_ctlcluster "$version" main start; else sudo pg_ctlcluster "$version" main start; fi
  fi
  for _ in $(seq 1 30); do
    as_postgres pg_isready -q -p "$PG_PORT" && break
    sleep 1
  done
  # Administration over the local socket (peer authentication); idempotent.
  as_postgres psql -q -p "$PG_PORT" -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  if ! as_postgres psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    as_postgres createdb -p "$PG_PORT" -O "$PG_USER" "$PG_DB"
  fi
}

server_running() {
  [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2> /dev/null
}

start_server() {
  if server_running; then
    echo "mlflow server already running (pid $(cat "$PID_FILE"))"
    return
  fi
  mkdir -p "$SERVER_DIR/artifacts"
  nohup mlflow server \
    --backend-store-uri "postgresql+psycopg://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB" \
    --artifacts-destination "$SERVER_DIR/artifacts" \
    --serve-artifacts \
    --host 127.0.0.1 --port "$MLFLOW_PORT" \
    > "$LOG_FILE" 2>&1 &
  echo $! > "$PID_FILE"
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$MLFLOW_PORT/health" > /dev/null 2>&1; then
      echo "mlflow server on http://127.0.0.1:$MLFLOW_PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
      return
    fi
    if ! server_running; then
      echo "error: mlflow server exited; see $LOG_FILE" >&2
      tail -20 "$LOG_FILE" >&2
      exit 1
    fi
    sleep 1
  done
  echo "error: mlflow server did not answer /health in 120 s; see $LOG_FILE" >&2
  exit 1
}

stop_server() {
  if server_running; then
    local pid
    pid="$(cat "$PID_FILE")"
    pkill -TERM -P "$pid" 2> /dev/null || true  # the server's workers
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || break; sleep 1; done
    kill -KILL "$pid" 2> /dev/null || true
    echo "mlflow server stopped"
  fi
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) start_postgres; start_server ;;
  stop) stop_server ;;
  stop-all)
    stop_server
    version="$(pg_lsclusters --no-header | awk 'NR==1 {print $1}')"
    if [ "$(id -u)" -eq 0 ]; then pg_ctlcluster "$version" main stop || true; else sudo pg_ctlcluster "$version" main stop || true; fi
    ;;
  status)
    if server_running; then echo "running (pid $(cat "$PID_FILE"))"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|stop-all|status" >&2; exit 2 ;;
esac
