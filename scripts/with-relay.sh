#!/usr/bin/env bash
# Runs a command with a supervised test relay on 127.0.0.1 and stops the relay afterwards.
#   scripts/with-relay.sh RELAY_BIN -- command args…
# The relay's WebSocket is on $RELAY_PORT (9301), its supervisor on $SUPERVISOR_PORT (9300).
set -euo pipefail
relay_bin=$1; shift
[ "${1:-}" = "--" ] && shift
relay_port=${RELAY_PORT:-9301}
supervisor_port=${SUPERVISOR_PORT:-9300}
state_dir=$(mktemp -d "${TMPDIR:-/tmp}/syncline-relay.XXXXXX")

"$relay_bin" supervise --control-port "$supervisor_port" --port "$relay_port" \
  --db "$state_dir/relay.sqlite" --control >"$state_dir/relay.log" 2>&1 &
supervisor=$!
cleanup() {
  kill "$supervisor" 2>/dev/null || true
  wait "$supervisor" 2>/dev/null || true
  rm -rf "$state_dir"
}
trap cleanup EXIT

for _ in $(seq 1 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$supervisor_port") 2>/dev/null && \
     (exec 3<>"/dev/tcp/127.0.0.1/$relay_port") 2>/dev/null; then
    break
  fi
  if ! kill -0 "$supervisor" 2>/dev/null; then
    echo "with-relay: the relay supervisor exited:" >&2
    cat "$state_dir/relay.log" >&2
    exit 1
  fi
  sleep 0.05
done

set +e
"$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "with-relay: relay log follows" >&2
  tail -n 50 "$state_dir/relay.log" >&2
fi
exit "$status"
