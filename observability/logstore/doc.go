// Package logstore runs and queries the lab's log store: VictoriaLogs fed by
// Filebeat for the in-process lab and tests, and Elasticsearch for the docker
// compose stack (which has Filebeat → Logstash → Elasticsearch).
//
//	service ──► logs/<svc>.log (ECS NDJSON)
//	        ──► Filebeat (filebeat.local.yml: filestream + ndjson parser)
//	        ──► VictoriaLogs /insert/elasticsearch/_bulk
//	        ◄── VictoriaLogs.Query (LogsQL)       ─┐ same result shape:
//	                        Elasticsearch.Search ─┘ flat ECS keys
//
// StartVictoriaLogs and StartFilebeat start the real binaries as child
// processes and return once they are ready (polled with a deadline); Stop
// ends them. FindTool locates the binaries that scripts/tools.sh installs.
//
// Query results are []map[string]any with dotted ECS keys ("trace.id",
// "service.name", "message", "@timestamp"), whichever store answered.
//
// VictoriaLogs, Elasticsearch and Process are safe for concurrent use.
package logstore
