#!/usr/bin/env bash
# Runs a command with a supervised test relay on 127.0.0.1 and stops the relay afterwards.
#   scripts/with-relay.sh RELAY_BIN -- command args…
# Every run picks its own free ports and a random secret, so that two runs at once on one machine
# do not meet, and hands them to the command in its environment:
#   SYNCLINE_TEST_RELAY_WS      the relay's WebSocket (ws://127.0.0.1:P/ws)
#   SYNCLINE_TEST_RELAY_HTTP    the relay's HTTP address, for its /control/* endpoints
#   SYNCLINE_TEST_SUPERVISOR    the supervisor that kills and starts the relay
#   SYNCLINE_CONTROL_SECRET     the x-syncline-secret header value both of them ask for
#   WASM_BINDGEN_TEST_ADDRESS   where wasm-bindgen-test-runner serves the test page: the one web
#                               origin whose pages the relay lets call those endpoints (CORS)
set -euo pipefail
relay_bin=$1; shift
[ "${1:-}" = "--" ] && shift
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/syncline-relay.XXXXXX")
supervisor=
cleanup() {
  if [ -n "$supervisor" ]; then
    kill "$supervisor" 2>/dev/null || true
    wait "$supervisor" 2>/dev/null || true
  fi
  rm -rf "$state_dir"
}
trap cleanup EXIT

# Three distinct free ports from the kernel (held together while asked for, so they differ).
free_ports() {
  python3 -c 'import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))'
}

SYNCLINE_CONTROL_SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export SYNCLINE_CONTROL_SECRET

# A port can be taken by another program between the choice and the bind: then try new ones.
up=
for attempt in 1 2 3; do
  read -r relay_port supervisor_port page_port <<<"$(free_ports)"
  "$relay_bin" supervise --control-port "$supervisor_port" --port "$relay_port" \
    --db "$state_dir/relay-$attempt.sqlite" --control --control-origin "http://127.0.0.1:$page_port" \
    >"$state_dir/relay.log" 2>&1 &
  supervisor=$!
  for _ in $(seq 1 200); do
    if ! kill -0 "$supervisor" 2>/dev/null; then
      break
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$supervisor_port") 2>/dev/null && \
       (exec 3<>"/dev/tcp/127.0.0.1/$relay_port") 2>/dev/null; then
      up=1
      break
    fi
    sleep 0.05
  done
  [ -n "$up" ] && break
  kill "$supervisor" 2>/dev/null || true
  wait "$supervisor" 2>/dev/null || true
  supervisor=
  echo "with-relay: the relay did not start (attempt $attempt):" >&2
  cat "$state_dir/relay.log" >&2
done
if [ -z "$up" ]; then
  exit 1
fi

export SYNCLINE_TEST_RELAY_WS="ws://127.0.0.1:$relay_port/ws"
export SYNCLINE_TEST_RELAY_HTTP="http://127.0.0.1:$relay_port"
export SYNCLINE_TEST_SUPERVISOR="http://127.0.0.1:$supervisor_port"
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$page_port"

set +e
"$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "with-relay: relay log follows" >&2
  tail -n 50 "$state_dir/relay.log" >&2
fi
exit "$status"
