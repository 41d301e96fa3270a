#!/usr/bin/env bash
# The hot-path benchmark, side by side in one run: a plain mosquitto relay, then the whole pipeline
# (MQTT -> stream -> sensor grain), with the load generator in its own process. Prints numbers only.
#   deploy/bench.sh [--sensors N] [--per-sensor N] [--connections N] [--repeat N] [--memory-sensors N] [--transports "Streams Direct"]
set -euo pipefail
cd "$(dirname "$0")/.."
SENSORS=1000 PER_SENSOR=200 CONNECTIONS=8 REPEAT=3 MEMORY_SENSORS=20000 LATENCY_RATE=10000 LATENCY_SECONDS=10 TRANSPORTS="Streams Direct"
while [ $# -gt 0 ]; do
  case "$1" in
    --sensors) SENSORS=$2; shift 2 ;;
    --per-sensor) PER_SENSOR=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --memory-sensors) MEMORY_SENSORS=$2; shift 2 ;;
    --latency-rate) LATENCY_RATE=$2; shift 2 ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

dotnet build src/Silo -c Release -nologo -clp:ErrorsOnly
dotnet build tools/LoadGen -c Release -nologo -clp:ErrorsOnly
LOADGEN="dotnet tools/LoadGen/bin/Release/net10.0/Fleet.LoadGen.dll"
# A 64 MB gen0 budget: fewer, cheaper collections under message load (see docs/benchmarks.md); deploy/ sets it too.
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x4000000}
WORK=$(mktemp -d)
. deploy/bench-lib.sh
cleanup() { [ -n "${BROKER:-}" ] && kill "$BROKER" 2>/dev/null; [ -n "${SILO:-}" ] && kill "$SILO" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); dotnet $(dotnet --version)"
echo "load: $SENSORS sensors x $PER_SENSOR readings over $CONNECTIONS connections, JSON ~45 bytes"

# 1. A plain mosquitto relay: publish to sensors/+/telemetry, count deliveries on a subscription.
MQ_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$MQ_PORT" > "$WORK/mosquitto.conf"
/usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 & BROKER=$!
sleep 1
relay=()
for i in $(seq "$REPEAT"); do
  out=$($LOADGEN --port "$MQ_PORT" --sensors "$SENSORS" --per-sensor "$PER_SENSOR" --connections "$CONNECTIONS" --relay --prefix r$i)
  relay+=("$(echo "$out" | field throughput_msg_s)")
done
echo "mosquitto relay QoS0 msg/s: ${relay[*]} (median $(printf '%s\n' "${relay[@]}" | median))"
relay_p99=()
for i in $(seq "$REPEAT"); do
  out=$($LOADGEN --port "$MQ_PORT" --relay --mode latency --rate "$LATENCY_RATE" --seconds "$LATENCY_SECONDS" --sensors "$SENSORS" --connections "$CONNECTIONS" --prefix rl$i)
  relay_p99+=("$(echo "$out" | grep latency_relay | field p99)")
done
echo "mosquitto relay latency at $LATENCY_RATE msg/s, p99 publish -> subscriber (device ts, ms resolution): ${relay_p99[*]} (median $(printf '%s\n' "${relay_p99[@]}" | median))"
kill "$BROKER"; wait "$BROKER" 2>/dev/null || true; BROKER=

# 2. The pipeline, once per ingress transport: one silo on embedded defaults (Release), fresh data folder.
run_pipeline() {
  local transport=$1
  start_silo src/Silo/bin/Release/net10.0 "$transport" "$WORK/silo-$transport.log" "$WORK/fleet.db"
  local lg="$LOADGEN --port $MQTT_PORT --http http://127.0.0.1:$HTTP_PORT"
  echo "== pipeline, transport=$transport"

  # Warm-up: activations, and enough calls for tiered JIT and dynamic PGO to settle (~300k messages). Later runs
  # with --prefix warm publish as these same sensors (warm environments, continuing sequence numbers).
  $lg --sensors "$SENSORS" --per-sensor 300 --connections "$CONNECTIONS" --prefix warm >/dev/null
  local qos0=() out
  for i in $(seq "$REPEAT"); do
    out=$($lg --sensors "$SENSORS" --per-sensor "$PER_SENSOR" --connections "$CONNECTIONS" --prefix warm)
    echo "$out" | grep -v '^mode=' | sed 's/^/  /'
    qos0+=("$(echo "$out" | field throughput_msg_s)")
  done
  echo "pipeline[$transport] QoS0 msg/s: ${qos0[*]} (median $(printf '%s\n' "${qos0[@]}" | median))"

  out=$($lg --sensors "$SENSORS" --per-sensor "$PER_SENSOR" --connections "$CONNECTIONS" --qos 1 --inflight 16 --prefix warm)
  echo "pipeline[$transport] QoS1 (16 in flight per connection) msg/s: $(echo "$out" | field throughput_msg_s)"

  local p99s=() pipes=()
  for i in $(seq "$REPEAT"); do
    out=$($lg --mode latency --rate "$LATENCY_RATE" --seconds "$LATENCY_SECONDS" --sensors "$SENSORS" --connections "$CONNECTIONS" --prefix warm)
    echo "$out" | grep -v '^mode=' | sed 's/^/  /'
    p99s+=("$(echo "$out" | grep latency_source | field p99)")
    pipes+=("$(echo "$out" | grep latency_pipeline | field p99)")
  done
  echo "pipeline[$transport] latency at $LATENCY_RATE msg/s, p99 publish -> state (device ts, ms resolution): ${p99s[*]} (median $(printf '%s\n' "${p99s[@]}" | median)); p99 gateway -> grain: ${pipes[*]}"

  # The same rate with 1,000 sensors the silo has never seen: every sensor's cold activation falls in the window.
  local cold=()
  for i in $(seq "$REPEAT"); do
    out=$($lg --mode latency --rate "$LATENCY_RATE" --seconds "$LATENCY_SECONDS" --sensors "$SENSORS" --connections "$CONNECTIONS" --prefix cold$i)
    cold+=("$(echo "$out" | grep latency_source | field p99)")
  done
  echo "pipeline[$transport] latency at $LATENCY_RATE msg/s with $SENSORS new sensors activating in the window, p99 publish -> state: ${cold[*]} (median $(printf '%s\n' "${cold[@]}" | median))"

  out=$($lg --mode memory --sensors "$MEMORY_SENSORS" --connections "$CONNECTIONS" --prefix mem)
  echo "pipeline[$transport] memory: $(echo "$out" | grep -Eo 'bytes_per_active_sensor=[0-9]+') ($MEMORY_SENSORS new sensors, one reading each, heap after full GC)"
  kill "$SILO"; wait "$SILO" 2>/dev/null || true; SILO=
}

for transport in ${TRANSPORTS}; do run_pipeline "$transport"; done
