#!/usr/bin/env bash
# The one entry point.
#   ./build.sh run     start one silo on embedded defaults (MQTT :1883, HTTP :8080, data in ./data)
#   ./build.sh test    install what the tests need (Debian packages), build, run every test
#   ./build.sh bench   install what the benchmark needs, run it (numbers go to docs/benchmarks.md by hand)
set -euo pipefail
cd "$(dirname "$0")"

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_dotnet() {
  command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
}

case "${1:-test}" in
  run)
    need_dotnet
    exec dotnet run --project src/Silo
    ;;
  test)
    need_dotnet
    apt_install mosquitto-clients   # mosquitto_pub: a real MQTT 3.1.1 device in the end-to-end tests
    # A Docker engine and the images of the real servers the integration tests start with Testcontainers
    # (PostgreSQL for the database sink), prepared where missing; exports what Testcontainers needs.
    source deploy/test-services.sh
    dotnet build Orleans.sln -c Release -nologo -clp:ErrorsOnly
    log=$(mktemp)
    status=0
    # -m:1: one test assembly at a time; the end-to-end tests start real silo processes on 2 cores.
    dotnet test Orleans.sln -c Release --no-build -nologo -m:1 2>&1 | tee "$log" || status=$?
    passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
    failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
    rm -f "$log"
    echo "tests: ${passed} passed, ${failed} failed"
    exit $status
    ;;
  bench)
    need_dotnet
    apt_install mosquitto mosquitto-clients
    exec deploy/bench.sh "${@:2}"
    ;;
  *)
    echo "usage: ./build.sh run|test|bench" >&2
    exit 2
    ;;
esac
