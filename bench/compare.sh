#!/usr/bin/env bash
# compare.sh — wampd vs nexus on this machine, in one bounded run (< 10 min).
#
# Builds wampd, wampbench and the nexus peer router (bench/peers/nexus), then
# runs the same wampbench scenarios against each router in turn: same
# endpoint (ws://127.0.0.1:PORT/ws), realm (realm1) and serializer
# (MessagePack). Each scenario gets a freshly started router, so no run
# inherits another's sessions or heap. Results: OUT/{wampd,nexus,baseline}/*.json
# (+ per-run SVG time series), then OUT/compare.md and OUT/compare_*.svg
# (side-by-side table with absolutes and wampd/nexus ratios, plots).
#
# Usage: bench/compare.sh [OUT]        (default OUT: bench/results)
# Environment knobs (defaults in brackets):
#   DURATION [5s]  measured phase per scenario     WARMUP [1s]
#   PORT [28080]   first WebSocket port (RawSocket: PORT+1). Each router start
#                  takes the next free pair from there: a router restarted on
#                  a port whose old connections are in TIME_WAIT may fail to
#                  bind, so every run gets an unused port; the URL otherwise
#                  stays ws://127.0.0.1:PORT/ws for both routers.
#   IDLE_SESSIONS [15000]  idle scenario size (100000 needs RLIMIT_NOFILE > 100k
#                          for the router and the harness; see PERF.md)
#   STORM_SESSIONS [5000]  LAT_RATE [2000] calls/s for the open-loop latency run
#   SWEEP [1]      also sweep fan-out subscribers=1,10,100,1000 and idle
#                  sessions=IDLE/8,IDLE/2,IDLE (0 to skip)
#   REPEATS [1]    runs of each scenario; the report takes the median per metric
#   ROUTERS ["wampd nexus"]
# Scenarios alternate between the routers (wampd, nexus, wampd, ...) so that
# both see the same background load on a shared machine.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-bench/results}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
PORT=${PORT:-28080}
IDLE_SESSIONS=${IDLE_SESSIONS:-15000}
STORM_SESSIONS=${STORM_SESSIONS:-5000}
LAT_RATE=${LAT_RATE:-2000}
SWEEP=${SWEEP:-1}
ROUTERS=${ROUTERS:-"wampd nexus"}
REPEATS=${REPEATS:-1}
BIN=$(mktemp -d /tmp/wampd-compare.XXXXXX)
URL="ws://127.0.0.1:$PORT/ws"
NEXT_PORT=$PORT
SPIN_PIDS=""
trap 'spin_stop; stop_router; rm -rf "$BIN"' EXIT

# This machine is a VM: an idle vCPU halts, and waking it costs ~100 µs, which
# swamps a one-call-in-flight round trip. The *_awake latency runs keep every
# vCPU busy with a lowest-priority spinner (like booting with idle=poll): the
# spinners yield to the router and the harness, but the CPUs never sleep.
spin_start() {
	for _ in $(seq "$(nproc)"); do
		nice -n 19 bash -c 'while :; do :; done' &
		SPIN_PIDS="$SPIN_PIDS $!"
	done
}
spin_stop() {
	if [ -n "$SPIN_PIDS" ]; then
		kill $SPIN_PIDS 2>/dev/null || true
		wait $SPIN_PIDS 2>/dev/null || true
	fi
	SPIN_PIDS=""
}

log() { printf '\n== %s\n' "$*" >&2; }

port_busy() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }
# port_used: any socket at all (listening, connected, TIME_WAIT) on the port.
port_used() { ss -tanH "sport = :$1" 2>/dev/null | grep -q .; }

log "building wampd, wampbench, nexus"
go build -o "$BIN/wampd" ./cmd/wampd
go build -o "$BIN/wampbench" ./cmd/wampbench
(cd bench/peers/nexus && go build -o "$BIN/nexus" .)

mkdir -p "$OUT"
for r in $ROUTERS baseline; do
	rm -rf "${OUT:?}/$r"
	mkdir -p "$OUT/$r"
done
rm -f "$OUT"/compare*.svg "$OUT/compare.md"

{
	echo "date:        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine:     $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "cpu:         $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go:          $(go version | cut -d' ' -f3-)  GOMAXPROCS=${GOMAXPROCS:-default (= cores)}"
	echo "wampd:       $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
	echo "nexus:       $(awk '/gammazero\/nexus/ {print $NF; exit}' bench/peers/nexus/go.mod)"
	echo "transport:   ws://127.0.0.1:PORT/ws (PORT from $PORT up, a fresh one per run), msgpack, realm1"
	echo "runs:        $DURATION measured after $WARMUP warm-up; a fresh router per scenario; $REPEATS repeat(s)"
	echo "fd limit:    $(ulimit -n) (idle sessions: $IDLE_SESSIONS)"
} >"$OUT/env.txt"

ROUTER_PID=""
start_router() {
	local name=$1
	while port_used "$NEXT_PORT" || port_used $((NEXT_PORT + 1)); do NEXT_PORT=$((NEXT_PORT + 2)); done
	PORT=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 2))
	URL="ws://127.0.0.1:$PORT/ws"
	case $name in
	wampd) "$BIN/wampd" -ws "127.0.0.1:$PORT" -rawsocket "127.0.0.1:$((PORT + 1))" -realm realm1 -log-level warn \
		>>"$OUT/$name/router.log" 2>&1 &
		;;
	nexus) "$BIN/nexus" -ws "127.0.0.1:$PORT" -rawsocket "127.0.0.1:$((PORT + 1))" -realm realm1 \
		>>"$OUT/$name/router.log" 2>&1 &
		;;
	esac
	ROUTER_PID=$!
	for _ in $(seq 100); do
		port_busy "$PORT" && return 0
		kill -0 "$ROUTER_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "compare.sh: $name did not start; see $OUT/$name/router.log" >&2
	return 1
}

stop_router() {
	if [ -n "$ROUTER_PID" ] && kill -0 "$ROUTER_PID" 2>/dev/null; then
		kill -TERM "$ROUTER_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$ROUTER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$ROUTER_PID" 2>/dev/null || true
		wait "$ROUTER_PID" 2>/dev/null || true
	fi
	ROUTER_PID=""
}

# bench ROUTER NAME SCENARIO [FLAGS...]: one scenario against a fresh router.
# Repeats after the first are written as NAME.rK.json.
bench() {
	local router=$1 name=$2 scenario=$3
	shift 3
	if [ "${REP:-1}" -gt 1 ]; then name="$name.r$REP"; fi
	if ! start_router "$router"; then
		echo "compare.sh: $router did not start for $name" | tee -a "$OUT/$router/failures.txt" >&2
		stop_router
		return 0
	fi
	log "$(date -u +%T) $router: $name ($scenario $*) on port $PORT"
	echo "${AWAKE:+(vCPUs kept awake) }wampbench $scenario -url $URL -router $router -router-pid PID -duration $DURATION -warmup $WARMUP $*" >>"$OUT/$router/commands.txt"
	if [ "${AWAKE:-0}" = 1 ]; then spin_start; fi
	timeout -k 10 180 "$BIN/wampbench" "$scenario" -url "$URL" -router "$router" -router-pid "$ROUTER_PID" \
		-duration "$DURATION" -warmup "$WARMUP" -quiet -out "$OUT/$router" -name "$name" "$@" ||
		echo "compare.sh: $router $name failed (exit $?)" | tee -a "$OUT/$router/failures.txt" >&2
	spin_stop
	stop_router
}

# Batch 50 = the fan-out window: no router can have more than 50 events per
# subscriber to write at once in these runs, so none can batch more.
log "baseline: the machine's limit (raw loopback broadcast, no router)"
for n in 100 1000; do
	"$BIN/wampbench" baseline -subscribers "$n" -batch 50 -duration "$DURATION" -quiet -out "$OUT/baseline" -name "baseline$n"
done
if [ "$SWEEP" = 1 ]; then
	"$BIN/wampbench" baseline -sweep subscribers=1,10,100,1000 -batch 50 -duration 2s -quiet -out "$OUT/baseline" -name fanout
fi

# each NAME SCENARIO [FLAGS...]: run it against every router in turn.
each() {
	for router in $ROUTERS; do bench "$router" "$@"; done
}

for REP in $(seq "$REPEATS"); do
	each fanout100 fanout -subscribers 100
	each fanout1000 fanout -subscribers 1000
	each rpc64 rpc -callers 4 -inflight 16 -callees 2
	each lat1 latency
	each latrate latency -rate "$LAT_RATE" -callers 1
	AWAKE=1 each lat1_awake latency
	AWAKE=1 each latrate_awake latency -rate "$LAT_RATE" -callers 1
	each storm storm -sessions "$STORM_SESSIONS" -concurrency 64 -src 127.0.0.10-127.0.0.13
	each idle idle -sessions "$IDLE_SESSIONS" -concurrency 64 -hold 5s -src 127.0.0.2-127.0.0.9
	each mixed mixed -sessions 1000 -subscribers 100 -callers 4 -inflight 16
done
if [ "$SWEEP" = 1 ]; then
	REP=1 each fanout fanout -sweep subscribers=1,10,100,1000 -duration 2s
	# Memory per session as the session count grows (the machine's fd limit
	# stops short of 100k: this is the trend toward it). A fresh router per
	# point: a reused heap would hide the growth.
	for n in $((IDLE_SESSIONS / 8)) $((IDLE_SESSIONS / 2)); do
		REP=1 each "idle_sessions_$n" idle -sessions "$n" -concurrency 64 -hold 2s -src 127.0.0.2-127.0.0.9
	done
fi

log "report"
"$BIN/wampbench" report -dir "$OUT" >/dev/null
echo "wrote $OUT/compare.md and $OUT/compare_*.svg" >&2
