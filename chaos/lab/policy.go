package lab

import (
	"time"

	"github.com/faultlab/faultlab/resilience"
)

// ScenarioPolicy is the default policy of `faultlab up` and of the chaos
// suites (in-process and in containers): the catalogue's timings assume it.
// It keeps the breaker's open interval and window short so that a trip and a recovery fit in a scenario of a few seconds: with the default
// 10 s window, the successes before a fault outweigh the slow failures of a
// 2 s latency for longer than the fault lasts.
var ScenarioPolicy = resilience.Policy{BreakerOpenTimeout: 2 * time.Second, BreakerMinRequests: 6, BreakerWindow: 5 * time.Second}
