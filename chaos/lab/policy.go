package lab

import "github.com/faultlab/faultlab/internal/hop"

// ScenarioPolicy is the default policy of `faultlab up` and of the chaos
// suites (in-process and in containers): the catalogue's timings assume it
// (hop.ScenarioPolicy, where the attack tests can reach it too).
var ScenarioPolicy = hop.ScenarioPolicy
