#!/usr/bin/env bash
# Two builds of the pipeline side by side in one run, runs interleaved (A B A B ...) so drift on this
# shared VM hits both alike: QoS0 throughput (1,000 sensors, 8 connections) and heap per active sensor
# (each run: a fresh silo, warm-up, one throughput run, then 20,000 new sensors for the heap).
#   deploy/bench-compare.sh BEFORE_REV [AFTER_REV] [--repeat N] [--per-sensor N] [--memory-sensors N] [--qos 1]
# --qos 1 measures QoS 1 throughput (16 in flight per connection) instead of QoS 0.
# Example (the hot path before and after its built-in steps became functions): deploy/bench-compare.sh 6f37538 HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: deploy/bench-compare.sh BEFORE_REV [AFTER_REV]}; shift
AFTER=HEAD
if [ $# -gt 0 ] && [[ $1 != --* ]]; then AFTER=$1; shift; fi
SENSORS=1000 PER_SENSOR=200 CONNECTIONS=8 REPEAT=5 MEMORY_SENSORS=20000 QOS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT=$2; shift 2 ;;
    --per-sensor) PER_SENSOR=$2; shift 2 ;;
    --memory-sensors) MEMORY_SENSORS=$2; shift 2 ;;
    --qos) QOS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
. deploy/bench-lib.sh
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x4000000}
WORK=$(mktemp -d)
cleanup() { [ -n "${SILO:-}" ] && kill "$SILO" 2>/dev/null; wait 2>/dev/null; git worktree remove --force "$WORK/before" 2>/dev/null; git worktree remove --force "$WORK/after" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

dotnet build tools/LoadGen -c Release -nologo -clp:ErrorsOnly
LOADGEN="dotnet tools/LoadGen/bin/Release/net10.0/Fleet.LoadGen.dll"
for side in before after; do
  rev=$BEFORE; [ $side = after ] && rev=$AFTER
  git worktree add --detach "$WORK/$side" "$rev" >/dev/null 2>&1
  dotnet build "$WORK/$side/src/Silo" -c Release -nologo -clp:ErrorsOnly >/dev/null
  echo "$side = $(git rev-parse --short "$rev") $(git log -1 --format=%s "$rev" | cut -c1-80)"
done
QOS_ARGS=""; [ "$QOS" = 1 ] && QOS_ARGS="--qos 1 --inflight 16"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load: $SENSORS sensors x $PER_SENSOR readings, $CONNECTIONS connections, QoS$QOS"

declare -A tput mem
for side in before after; do tput[$side]=""; mem[$side]=""; done
for i in $(seq "$REPEAT"); do
  for side in before after; do
    start_silo "$WORK/$side/src/Silo/bin/Release/net10.0" Direct "$WORK/silo-$side.log" "$WORK/$side.db"
    lg="$LOADGEN --port $MQTT_PORT --http http://127.0.0.1:$HTTP_PORT"
    $lg --sensors "$SENSORS" --per-sensor 300 --connections "$CONNECTIONS" --prefix warm >/dev/null
    t=$($lg --sensors "$SENSORS" --per-sensor "$PER_SENSOR" --connections "$CONNECTIONS" $QOS_ARGS --prefix warm | field throughput_msg_s)
    tput[$side]="${tput[$side]} $t"
    echo "  run $i $side: $t msg/s"
    m=$($LOADGEN --port "$MQTT_PORT" --http "http://127.0.0.1:$HTTP_PORT" --mode memory --sensors "$MEMORY_SENSORS" --connections "$CONNECTIONS" --prefix mem | grep -Eo 'bytes_per_active_sensor=[0-9]+' | cut -d= -f2)
    mem[$side]="${mem[$side]} $m"
    echo "  run $i $side: $m bytes per active sensor"
    kill "$SILO"; wait "$SILO" 2>/dev/null || true; SILO=
  done
done
mb=$(echo ${tput[before]} | tr ' ' '\n' | median); ma=$(echo ${tput[after]} | tr ' ' '\n' | median)
echo "throughput msg/s  before:${tput[before]} (median $mb)   after:${tput[after]} (median $ma)   change: $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%+.1f%%", (a-b)/b*100}')"
echo "heap per active sensor, bytes ($MEMORY_SENSORS new sensors)  before:${mem[before]} (median $(echo ${mem[before]} | tr ' ' '\n' | median))   after:${mem[after]} (median $(echo ${mem[after]} | tr ' ' '\n' | median))"
