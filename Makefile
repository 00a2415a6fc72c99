# syncline — the two commands are `make demo` and `make test`; both install what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PORT ?= 8080
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/www/node_modules/.bin:$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
WASM_PACK_VERSION := 0.15.1
WASM_TESTS := $(patsubst tests/%.rs,--test %,$(wildcard tests/web_*.rs))
RELAY_DEBUG := target/debug/syncline-relay
RELAY_RELEASE := target/release/syncline-relay

export CHROMEDRIVER := /usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT := 300


.PHONY: record-frames chaos test-chaos fuzz test-fuzz bench bench-tabs size test-e2e dashboard hooks-app help deps deps-rust deps-browser deps-redis deps-node test test-native test-browser test-smoke pkg demo relay fmt clean

help:
	@echo "make demo   install what is missing, build, serve the demo on http://127.0.0.1:$(PORT)"
	@echo "make test   install what is missing, run every test"

## ----- installing what is missing (idempotent) -----

deps: deps-rust deps-browser deps-redis deps-node

deps-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@if ! wasm-bindgen --version 2>/dev/null | grep -qF " $(WASM_BINDGEN_VERSION)"; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install wasm-bindgen-cli --version "=$(WASM_BINDGEN_VERSION)" --force; \
	fi
	@if ! wasm-pack --version 2>/dev/null | grep -qF " $(WASM_PACK_VERSION)"; then \
	  echo "installing wasm-pack $(WASM_PACK_VERSION)"; \
	  cargo install wasm-pack --version "=$(WASM_PACK_VERSION)" --force; \
	fi

deps-browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "installing Debian's chromium and chromium-driver"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# Debian's Redis, for the tests of syncline against Socket.IO servers sharing a Redis adapter.
deps-redis:
	@if ! command -v redis-server >/dev/null; then \
	  echo "installing Debian's redis-server"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; \
	fi

deps-node:
	@if [ ! -f www/node_modules/.syncline-installed ] || [ www/package-lock.json -nt www/node_modules/.syncline-installed ]; then \
	  cd www && npm ci --no-audit --no-fund && touch node_modules/.syncline-installed; \
	fi

## ----- tests -----

# Re-records the frames tests/protocol_recorded.rs replays: the release relay and the real
# `socket.io` server, spoken to by hand (scripts/record-frames.mjs). Not part of `make test`.
record-frames: deps-node relay
	node scripts/record-frames.mjs

test: deps test-native test-fuzz test-browser test-e2e test-chaos test-smoke
	@echo "make test: all suites passed"

test-native:
	cargo test --workspace
	python3 scripts/import-loops.py

# The fuzzer for a short fixed time (4 s per target); `make fuzz` runs it longer.
test-fuzz:
	cargo run --quiet --example fuzz -- --seconds 4

test-browser: deps-rust deps-browser
	cargo build -p syncline-relay
	scripts/with-relay.sh $(RELAY_DEBUG) -- scripts/web-tests.sh $(WASM_TESTS)

# Real tabs (Playwright pages) against the release build and relay: tabs, hooks, dashboard; and
# against Socket.IO servers (one, and two sharing Debian's redis-server).
test-e2e: deps-redis dashboard hooks-app relay
	cd www && node --preserve-symlinks --test tests/

# A short chaos run in every protocol mode (relay, socketio, json, http): 300 publishes and one
# fault of each of the 12 kinds per mode, about 3 minutes; `make chaos` is the long one.
test-chaos: pkg relay
	cd www && node --preserve-symlinks chaos/chaos.mjs --mode all --events 300 --faults 12 --gap 300 --quick --skip $(CHAOS_KNOWN)

# The optimized release build, loaded once in Chromium (a broken optimizer output is silent until then).
test-smoke: dashboard relay
	cd www && node tests/smoke.mjs

## ----- long runs (not part of make test) -----

# Every protocol mode, CHAOS_EVENTS publishes and CHAOS_FAULTS faults (12 kinds in shuffled
# rounds) each: publishers and viewer tabs through server kills and hangs, offline and slow tabs,
# closed leaders, reloads mid-publish, crashes, IndexedDB deleted or over quota, paused and
# frozen pages, 5 MB backlogs. Fails on any publish lost, acked and not stored, stored out of
# order, or event handed out of order, twice or missed. Writes target/chaos/report.json.
CHAOS_EVENTS ?= 20000
CHAOS_FAULTS ?= 120
CHAOS_MODES ?= all
# Known failures left out of the short run (README, "Chaos"; `make chaos` runs them):
# - reload in the HTTP, Socket.IO and JSON modes: a channel sends one entry at a time there, so a
#   burst of publishes followed at once by a reload loses what was neither committed to
#   IndexedDB nor sent;
# - JSON mode under clockJump, serverHang and freeze: viewers miss events without a gap event
#   (a JSON server's offsets are not known to be contiguous, so no gap is detected).
CHAOS_KNOWN ?= http:reload,socketio:reload,json:reload,json:clockJump,json:serverHang,json:freeze
chaos: deps pkg relay
	cd www && node --preserve-symlinks chaos/chaos.mjs --mode $(CHAOS_MODES) --events $(CHAOS_EVENTS) --faults $(CHAOS_FAULTS)

# Every fuzz target (envelope, socketio, tabs, core, leader) for FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	cargo run --quiet --example fuzz -- --seconds $(FUZZ_SECONDS)

## ----- benchmarks (not part of make test) -----

# The relay under load: a native generator (relay/examples/load.rs) opens 5,000 WebSocket
# connections to the release relay on a free port — 1,000 slow consumers, 200 publishers timing
# each durable ack, the rest subscribers — for 60 s, sampling the relay's RSS. Writes
# target/load/report.json. LOAD_ARGS passes options (e.g. --seconds 20 --connections 2000).
.PHONY: load
LOAD_ARGS ?=
load: relay
	cargo build --release -p syncline-relay --example load
	ulimit -n "$$(ulimit -Hn)" && target/release/examples/load $(LOAD_ARGS)

# syncline (through the relay, and against a socket.io server) side by side with socket.io-client,
# partysocket, a plain WebSocket, workbox's Queue and broadcast-channel, in one headless Chromium,
# 3 rounds (about ten minutes). Writes
# target/bench/results.json, results.md (with the sizes of `make size`) and chart.svg.
# ROUNDS=1, QUICK=1 (smaller counts) and ONLY=inbound,latency,… shorten it.
bench: size relay
	node bench/bench.mjs

# Leader failover time (leader tab closed → new leader's socket open) and fan-out, in Playwright tabs.
bench-tabs: deps pkg relay
	node bench/tabs.mjs

# Bytes on the wire: the npm package's browser files (raw, gzip -9, brotli 11; as shipped and
# JS-minified) next to its peers bundled by esbuild. Writes target/bench/size.json and size.md.
size: deps pkg
	node bench/size.mjs

## ----- building -----

relay:
	cargo build --release -p syncline-relay

# The npm package's generated part: pkg/wasm (release, then wasm-opt -Oz from npm's binaryen).
pkg: deps-rust deps-node
	wasm-pack build --release --target web --out-dir pkg/wasm --out-name syncline --no-pack
	rm -f pkg/wasm/.gitignore
	wasm-opt -Oz pkg/wasm/syncline_bg.wasm -o pkg/wasm/syncline_bg.wasm

# The demo dashboard (React, Vite) into www/dist.
dashboard: pkg deps-node
	cd www && vite build --logLevel warn

# The page the hook tests drive, into www/tests/hooks/dist.
hooks-app: pkg deps-node
	cd www && vite build --config tests/hooks/vite.config.js --logLevel warn

# The relay serves the dashboard and /ws on one port; it refuses channels "refused.*" so that
# the dashboard can show dead letters.
demo: deps dashboard relay
	@echo "syncline demo on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	$(RELAY_RELEASE) serve --port $(PORT) --db target/demo-relay.sqlite --static www/dist \
	  --faults '{"rejectChannels":["refused."]}'

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf pkg/wasm www/node_modules www/dist www/tests/hooks/dist
