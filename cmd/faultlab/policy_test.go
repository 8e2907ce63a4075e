package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/lab"
)

func TestPolicyFlagsPatchTheBase(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	policies := policyFlags(fs, lab.ScenarioPolicy)
	if err := fs.Parse([]string{"--policy-payment", "attempts=2,attempt-timeout=300ms"}); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "FAULTLAB_POLICY_USER" {
			return "breaker=off"
		}
		return ""
	}
	if err := envDefaults(fs, env); err != nil {
		t.Fatal(err)
	}
	got := policies()
	want := lab.ScenarioPolicy
	want.MaxAttempts, want.AttemptTimeout = 2, 300*time.Millisecond
	if got["payment"] != want {
		t.Errorf("payment: %+v, want %+v (the base with two keys changed)", got["payment"], want)
	}
	wantUser := lab.ScenarioPolicy
	wantUser.DisableBreaker = true
	if got["user"] != wantUser {
		t.Errorf("user from FAULTLAB_POLICY_USER: %+v, want %+v", got["user"], wantUser)
	}
	if _, ok := got["product"]; ok || len(got) != 2 {
		t.Errorf("policies %v: only the flags that were set belong there", got)
	}
}

func TestPolicyFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown key", []string{"serve", "payment", "--policy-user", "retries=2"}, nil, `unknown key "retries"`},
		{"bad value", []string{"up", "--policy-payment", "attempt-timeout=-1s"}, nil, "must be positive"},
		{"from env", []string{"serve", "order", "--gateway-key", "g", "--service-key", "s"},
			map[string]string{"FAULTLAB_POLICY_PAYMENT": "breaker=maybe"}, "FAULTLAB_POLICY_PAYMENT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestHelpListsFlags(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "payment", "-h"}, &out, &errb, noEnv)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errb.String(), "-policy-payment") || !strings.Contains(errb.String(), "-listen") {
		t.Fatalf("err %v, help:\n%s", err, errb.String())
	}
}
