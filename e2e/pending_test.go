//go:build e2e

package e2e

import "testing"

// Scenarios of commands not built yet. They are listed here so the suite
// says what it does not cover; none of them asserts anything.
var pending = []struct{ issue, scenario string }{
	{"node (#6)", "nf_conntrack_max set low and filled: the lab kernel refuses nf_conntrack_max in a non-init netns (EPERM)"},
}

func TestPendingScenarios(t *testing.T) {
	for _, p := range pending {
		t.Run(p.issue+": "+p.scenario, func(t *testing.T) {
			t.Skip("pending: the command is not built yet")
		})
	}
}
