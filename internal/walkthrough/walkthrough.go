package walkthrough

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/faultlab/faultlab/topology"
)

// Gateway is the gateway address the README's walk-through calls.
var Gateway = topology.DefaultURL(topology.Gateway)

// Tools are the commands the walk-through needs.
var Tools = []string{"bash", "curl", "sed"}

// Script returns the shell block under the README's "## Walk-through".
func Script(readme string) (string, error) {
	_, rest, ok := strings.Cut(readme, "\n## Walk-through\n")
	if !ok {
		return "", errors.New("walkthrough: the README has no ## Walk-through section")
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		return "", errors.New("walkthrough: the section has no ```sh block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		return "", errors.New("walkthrough: the ```sh block is not closed")
	}
	if !strings.Contains(block, Gateway) {
		return "", fmt.Errorf("walkthrough: the block never calls %s", Gateway)
	}
	return block, nil
}

// Run reads the README at path and runs its walk-through against gateway
// (e.g. http://127.0.0.1:38121) in dir. It returns everything the script
// printed, also when it fails.
func Run(ctx context.Context, path, gateway, dir string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("walkthrough: %w", err)
	}
	block, err := Script(string(b))
	if err != nil {
		return "", err
	}
	script := strings.ReplaceAll(block, Gateway, gateway)
	cmd := exec.CommandContext(ctx, "bash", "-eu", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("walkthrough: bash: %w", err)
	}
	return string(out), nil
}

// orderID finds an order's id, as the order or as the payment's order_id.
var orderID = regexp.MustCompile(`"(?:order_)?id":"(ord_[^"]+)"`)

// Check returns one error for each promise of the walk-through that the
// output of a first run against gateway does not keep.
func Check(out, gateway string) []error {
	var errs []error
	for _, want := range []string{
		// The catalogue's next page is linked on the gateway.
		"<" + gateway + "/api/v1/products?",
		`rel="next"`,
		// The order is created, located on the gateway.
		"Location: " + gateway + "/api/v1/orders/ord_",
		// The same key with another body is refused.
		"HTTP/1.1 422 Unprocessable Entity",
		"Content-Type: application/problem+json",
		// The payment is read back, for the order.
		`"order_id":"ord_`,
	} {
		if !strings.Contains(out, want) {
			errs = append(errs, fmt.Errorf("the output lacks %q", want))
		}
	}
	// The order and its replay: the same answer, twice.
	if n := strings.Count(out, "HTTP/1.1 201 Created"); n != 2 {
		errs = append(errs, fmt.Errorf("%d answers were 201 Created, want 2 (the order and its replay)", n))
	}
	// Confirmed in the answer, its replay, the read and the list.
	if n := strings.Count(out, `"status":"confirmed"`); n < 4 {
		errs = append(errs, fmt.Errorf(`"status":"confirmed" appears %d times, want at least 4`, n))
	}
	// One order throughout: created, replayed, read, listed and paid.
	var ids []string
	for _, m := range orderID.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(ids, m[1]) {
			ids = append(ids, m[1])
		}
	}
	if len(ids) != 1 {
		errs = append(errs, fmt.Errorf("the output names orders %v, want exactly one", ids))
	}
	if gateway != Gateway && strings.Contains(out, strings.TrimPrefix(Gateway, "http://")) {
		errs = append(errs, fmt.Errorf("the output names %s, not the gateway it ran against", Gateway))
	}
	return errs
}
