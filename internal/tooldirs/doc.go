// Package tooldirs tells tests where scripts/tools.sh puts the real
// external tools (PostgreSQL, VictoriaLogs, Filebeat, …) and whether a
// missing one must fail the test rather than skip it. pgtest and
// logstoretest both look there.
//
//	scripts/tools.sh ──► $FAULTLAB_TOOLS/bin or ~/.cache/faultlab/tools/bin ──► Dirs
package tooldirs
