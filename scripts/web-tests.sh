#!/usr/bin/env bash
# Builds the wasm browser tests and runs each in headless Chromium with wasm-bindgen-test-runner:
#   scripts/web-tests.sh [cargo test options…] [-- runner options, e.g. a test name filter]
# Run it under scripts/with-relay.sh: the ports and the secret that run picked are compiled into
# the tests (tests/common/mod.rs). The binaries are copied out of target/ under a lock before any
# runs, so that another run building them at the same moment, with its own ports and secret
# compiled in, cannot swap them under this one.
set -euo pipefail
cargo_args=()
runner_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then
    shift
    runner_args=("$@")
    break
  fi
  cargo_args+=("$1")
  shift
done
own=$(mktemp -d "${TMPDIR:-/tmp}/syncline-web-tests.XXXXXX")
trap 'rm -rf "$own"' EXIT

mkdir -p target
exec 9>target/web-tests.lock
flock 9
cargo test --target wasm32-unknown-unknown --no-run --message-format=json-render-diagnostics \
  "${cargo_args[@]}" >"$own/build.json"
python3 -c 'import json, shutil, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        m = json.loads(line)
        if m.get("reason") == "compiler-artifact" and m.get("executable"):
            shutil.copy(m["executable"], sys.argv[2])' "$own/build.json" "$own"
flock -u 9
exec 9>&-

shopt -s nullglob
tests=("$own"/*.wasm)
if [ ${#tests[@]} -eq 0 ]; then
  echo "web-tests: no test binaries were built" >&2
  exit 1
fi
for wasm in "${tests[@]}"; do
  echo "     Running $(basename "$wasm")"
  wasm-bindgen-test-runner "$wasm" "${runner_args[@]}"
done
