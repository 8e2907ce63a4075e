#!/bin/sh
# One-shot setup of the ELK stack for faultlab (the compose "setup" service):
# waits for Elasticsearch and Kibana, installs the index template for
# faultlab-logs-*, and imports the Kibana data view, saved searches and the
# "Incident overview" dashboard. Safe to run again: both calls overwrite.
#
#   ES_URL=http://elasticsearch:9200 KIBANA_URL=http://kibana:5601 \
#   CONFIG_DIR=/observability sh observability/setup/setup.sh
#
# POSIX sh and curl only (the curlimages/curl image has both).
set -eu

ES_URL=${ES_URL:-http://elasticsearch:9200}
KIBANA_URL=${KIBANA_URL:-http://kibana:5601}
CONFIG_DIR=${CONFIG_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
WAIT_SECONDS=${WAIT_SECONDS:-300}

log() { echo "setup: $*"; }

# wait_for NAME URL: poll URL until it answers 2xx, or give up after
# WAIT_SECONDS.
wait_for() {
	name=$1 url=$2 start=$(date +%s)
	log "waiting for $name at $url"
	until curl -fsS -o /dev/null "$url"; do
		if [ $(($(date +%s) - start)) -ge "$WAIT_SECONDS" ]; then
			log "$name did not answer within ${WAIT_SECONDS}s" >&2
			exit 1
		fi
		sleep 2
	done
	log "$name is up"
}

wait_for Elasticsearch "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=5s"
# Kibana answers /api/status before it is ready; wait for "available".
wait_for Kibana "$KIBANA_URL/api/status"
start=$(date +%s)
until curl -fsS "$KIBANA_URL/api/status" | grep -q '"level":"available"'; do
	if [ $(($(date +%s) - start)) -ge "$WAIT_SECONDS" ]; then
		log "Kibana did not become available within ${WAIT_SECONDS}s" >&2
		exit 1
	fi
	sleep 2
done

log "installing index template faultlab-logs"
curl -fsS -X PUT "$ES_URL/_index_template/faultlab-logs" \
	-H 'Content-Type: application/json' \
	--data-binary "@$CONFIG_DIR/elasticsearch/index-template.json"
echo

log "importing Kibana saved objects"
out=$(curl -fsS -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \
	-H 'kbn-xsrf: true' \
	--form "file=@$CONFIG_DIR/kibana/saved-objects.ndjson")
echo "$out"
case $out in
*'"success":true'*) log "done: open $KIBANA_URL/app/dashboards#/view/faultlab-incident-overview" ;;
*) log "Kibana import failed" >&2; exit 1 ;;
esac
