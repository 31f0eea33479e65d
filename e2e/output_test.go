//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// TestJSONPathEveryCommand: every probing command's result is an object
// kubectl's printers read: -o jsonpath='{.status.healthy}' prints true on a
// healthy lab, and -o name names the run.
func TestJSONPathEveryCommand(t *testing.T) {
	shop(t)
	for _, args := range [][]string{
		{"node"},
		{"external", "198.19.0.1", "--port", "80"},
		{"dns"},
		{"service", "web", "-n", "nc-shop"},
		{"api"},
		{"pods"},
	} {
		r := netcheck(t, 2*time.Minute, append(args, "-o", "jsonpath={.status.healthy}")...)
		if r.code != 0 || r.stdout != "true" {
			t.Errorf("%v -o jsonpath: exit %d stdout %q\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
	noProbePodsLeft(t)
}
