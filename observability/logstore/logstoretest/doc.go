// Package logstoretest gives tests the real external tools: it finds them
// (logstore.FindTool) and starts VictoriaLogs and Filebeat in temporary
// directories, stopped with t.Cleanup.
//
// A missing tool skips the test with the reason and the command that
// installs it, except when the tools are required: FAULTLAB_REQUIRE_TOOLS=1,
// or FAULTLAB_TOOLS is set (as `make test` and CI set it, right after
// running scripts/tools.sh) and the test is not -short. Then a missing tool
// fails the test, so CI never skips it silently.
package logstoretest
