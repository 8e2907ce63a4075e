package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/faultlab/faultlab/observability/incident"
	"github.com/faultlab/faultlab/observability/logstore"
	"github.com/faultlab/faultlab/shop"
)

const incidentUsage = "usage: faultlab incident [--victorialogs URL | --elasticsearch URL [--index P] | --logs DIR] [--since D] [--service S] <trace-id>"

// runIncident prints one request's path across the services: every log line
// with its trace id, from VictoriaLogs, Elasticsearch or the lab's NDJSON
// files, as a timeline.
func runIncident(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("incident", stderr)
	vlogs := fs.String("victorialogs", "", "VictoriaLogs base URL, e.g. http://127.0.0.1:9428")
	es := fs.String("elasticsearch", "", "Elasticsearch base URL, e.g. http://127.0.0.1:9200")
	index := fs.String("index", "faultlab-logs-*", "Elasticsearch index pattern")
	logs := fs.String("logs", "./var/logs", "directory of the lab's <service>.log files (when no store is given)")
	since := fs.Duration("since", time.Hour, "only lines newer than this (0: all)")
	service := fs.String("service", "", "only this service's lines")
	// Flags may come before or after the trace id.
	var pos []string
	for rest := args; ; {
		if err := parse(fs, rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stderr, incidentUsage)
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if err := envDefaults(fs, getenv); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("incident: want exactly one trace id, got %d (%s)", len(pos), incidentUsage)
	}
	id := pos[0]
	if !incident.ValidTraceID(id) {
		return usagef("incident: %q is not a trace id: %v", id, incident.ErrBadTraceID)
	}
	if *vlogs != "" && *es != "" {
		return usagef("incident: give --victorialogs or --elasticsearch, not both")
	}
	if *since < 0 {
		return usagef("incident: --since %v is negative", *since)
	}
	if *service != "" {
		if err := oneOf(*service, shop.Services...); err != nil {
			return usagef("incident: --service: %v", err)
		}
	}

	var src incident.Source
	switch {
	case *vlogs != "":
		src = incident.VictoriaLogs{Client: logstore.VictoriaLogs{URL: *vlogs, HTTP: plainClient()}}
	case *es != "":
		src = incident.Elasticsearch{Client: logstore.Elasticsearch{URL: *es, Index: *index, HTTP: plainClient()}}
	default:
		src = incident.Files{Dir: *logs}
	}
	f := incident.Filter{Service: *service}
	if *since > 0 {
		f.Since = time.Now().Add(-*since)
	}
	evs, err := incident.Timeline(ctx, src, id, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trace %s: %d log lines\n", id, len(evs))
	return incident.Render(stdout, evs)
}
