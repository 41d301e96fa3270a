# Shared by the benchmark scripts: sourced, not run.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { grep -Eo "$1=[0-9.]+" | head -1 | cut -d= -f2; }

# start_silo DIR TRANSPORT LOG DB: one Release silo from DIR (its bin folder) on free ports; sets SILO, HTTP_PORT, MQTT_PORT.
start_silo() {
  local dir=$1 transport=$2 log=$3 db=$4
  HTTP_PORT=$(free_port); MQTT_PORT=$(free_port)
  rm -rf "$db"*
  (cd "$dir" && Urls="http://127.0.0.1:$HTTP_PORT" Mqtt__Port=$MQTT_PORT Storage__Path="$db" \
    Functions__CodeCachePath="$db.functions/code" Functions__TempPath="$db.functions/tmp" \
    Silo__Transport=$transport Silo__SiloPort=$(free_port) Silo__GatewayPort=$(free_port) Logging__LogLevel__Default=Warning \
    exec dotnet Fleet.Silo.dll > "$log" 2>&1) & SILO=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null && break; sleep 0.3; done
}
