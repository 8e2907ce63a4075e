// Package walkthrough runs the README's curl walk-through, verbatim, against
// a gateway, and checks what its comments promise. Tests use it to keep the
// README true: against the in-process lab (cmd/faultlab) and against the
// containers of docker-compose.yml (deploy).
//
// The block is the first ```sh fence under "## Walk-through". Run changes
// one thing in it, the gateway's address (Gateway), and runs it with bash
// -eu -o pipefail, so a step that fails stops the run.
package walkthrough
