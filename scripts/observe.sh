#!/usr/bin/env bash
# observe.sh runs the lab's observability stack as local processes, beside a
# running `faultlab up` (make run):
#
#   VictoriaLogs  http://127.0.0.1:9428  (UI: /select/vmui/)
#   Filebeat      ships ./var/logs/*.log to VictoriaLogs (filebeat.local.yml)
#   Prometheus    http://127.0.0.1:9090  (API: /api/v1/alerts, /api/v1/query)
#   Alertmanager  http://127.0.0.1:9093
#
# Data lives under ./var/observe (FAULTLAB_OBSERVE_DIR), each tool's output in
# <that dir>/<tool>.log; the lab's logs are read from ./var/logs (FAULTLAB_LOG_DIR).
# Ctrl-C stops them all. Tools come from scripts/tools.sh (make tools).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

TOOLS=${FAULTLAB_TOOLS:-$HOME/.cache/faultlab/tools}
export PATH="$TOOLS/bin:$PATH"
LOG_DIR=${FAULTLAB_LOG_DIR:-$root/var/logs}
DATA=${FAULTLAB_OBSERVE_DIR:-$root/var/observe}
mkdir -p "$DATA" "$LOG_DIR"

need() {
	command -v "$1" >/dev/null || { echo "observe: $1 not found; run: bash scripts/tools.sh" >&2; exit 1; }
}
for t in victoria-logs filebeat prometheus alertmanager; do need "$t"; done

pids=()
cleanup() {
	trap - INT TERM EXIT
	echo "observe: stopping"
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# wait_http NAME URL: poll until URL answers, for at most 30s.
wait_http() {
	local i
	for ((i = 0; i < 300; i++)); do
		if curl -fsS -o /dev/null "$2" 2>/dev/null; then
			echo "observe: $1 ready at $2"
			return
		fi
		sleep 0.1
	done
	echo "observe: $1 did not start; see $DATA/$1.log" >&2
	exit 1
}

victoria-logs -httpListenAddr=127.0.0.1:9428 -storageDataPath="$DATA/victoria-logs" \
	-loggerLevel=WARN >"$DATA/victoria-logs.log" 2>&1 &
pids+=($!)
wait_http victoria-logs http://127.0.0.1:9428/health

FAULTLAB_LOG_DIR=$LOG_DIR FAULTLAB_VLOGS_URL=http://127.0.0.1:9428 \
	filebeat -e -c "$root/observability/filebeat/filebeat.local.yml" \
	--path.home "$DATA/filebeat" --path.data "$DATA/filebeat/data" --path.logs "$DATA/filebeat/logs" \
	--strict.perms=false -E http.enabled=true -E http.host=127.0.0.1 -E http.port=5066 \
	>"$DATA/filebeat.log" 2>&1 &
pids+=($!)
wait_http filebeat http://127.0.0.1:5066/

alertmanager --config.file="$root/observability/alertmanager/alertmanager.yml" \
	--storage.path="$DATA/alertmanager" \
	--web.listen-address=127.0.0.1:9093 --cluster.listen-address= \
	>"$DATA/alertmanager.log" 2>&1 &
pids+=($!)
wait_http alertmanager http://127.0.0.1:9093/-/ready

# prometheus.local.yml names its rules relative to itself.
prometheus --config.file="$root/observability/prometheus/prometheus.local.yml" \
	--storage.tsdb.path="$DATA/prometheus" \
	--web.listen-address=127.0.0.1:9090 --web.enable-lifecycle \
	>"$DATA/prometheus.log" 2>&1 &
pids+=($!)
wait_http prometheus http://127.0.0.1:9090/-/ready

cat <<MSG
observe: up. Logs from $LOG_DIR.
  VictoriaLogs UI   http://127.0.0.1:9428/select/vmui/
  Prometheus        http://127.0.0.1:9090  (alerts: /api/v1/alerts, reload: POST /-/reload)
  Alertmanager      http://127.0.0.1:9093
Ctrl-C stops everything.
MSG
# Exit (and stop the rest) as soon as any of them dies.
wait -n "${pids[@]}"
echo "observe: a process exited; see $DATA/*.log" >&2
