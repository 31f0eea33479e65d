//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo: `make demo` on the running lab — the seed's missing masquerade
// named on nc-node1, the printed fix applied there by the script, then a
// healthy run. The cluster it found up stays up.
func TestDemo(t *testing.T) {
	lab(t)
	if profile() != "bridge" {
		t.Skip("the demo is the bridge lab's")
	}
	cmd := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "demo.sh"))
	cmd.Env = append(cmd.Environ(), "KEEP=1")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, text)
	}
	for _, want := range []string{"ERROR missing-nat on nc-node1", "applying the printed fix on nc-node1: iptables -t nat", "No problems found"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "No problems found") < strings.Index(text, "applying the printed fix") {
		t.Errorf("healthy before the fix was applied:\n%s", text)
	}
	noProbePodsLeft(t)
}
