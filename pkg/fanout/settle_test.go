package fanout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
)

// Plan.Settle holds each pod probe's checks until it has passed since the
// probe was Ready (a policy agent programs a new pod asynchronously), and
// the timeline says so; the node side does not wait.
func TestSettleHoldsThePodChecks(t *testing.T) {
	out := loadOutputs(t)
	const settle = 400 * time.Millisecond
	r := runWith(t, realistic(0.2), 3, out, func(c *fanout.Config) { c.Plan.Settle = settle })
	for _, o := range r.obs {
		var ready, settled, firstPodExec, firstNodeExec int64 = -1, -1, -1, -1
		for _, e := range o.Timeline {
			switch {
			case e.What == "pod probe ready":
				ready = e.AtMillis
			case strings.HasPrefix(e.What, "pod probe settled (400ms"):
				settled = e.AtMillis
			case strings.HasPrefix(e.What, "exec pod ") && (firstPodExec < 0 || e.AtMillis < firstPodExec):
				firstPodExec = e.AtMillis
			case strings.HasPrefix(e.What, "exec node ") && (firstNodeExec < 0 || e.AtMillis < firstNodeExec):
				firstNodeExec = e.AtMillis
			}
		}
		if ready < 0 || settled < 0 || firstPodExec < 0 || firstNodeExec < 0 {
			t.Fatalf("%s: timeline lacks a step: %+v", o.Name, o.Timeline)
		}
		if settled-ready < settle.Milliseconds() || firstPodExec < settled {
			t.Errorf("%s: ready %dms, settled %dms, first pod exec %dms: the checks did not wait %s", o.Name, ready, settled, firstPodExec, settle)
		}
		if firstNodeExec >= settled {
			t.Errorf("%s: the node side waited too (first exec %dms, settled %dms)", o.Name, firstNodeExec, settled)
		}
	}
	// Without it, no wait and no such step.
	for _, o := range runOnce(t, realistic(0.2), 3, out).obs {
		for _, e := range o.Timeline {
			if strings.Contains(e.What, "settled") {
				t.Errorf("%s: %q without Settle", o.Name, e.What)
			}
		}
	}
}
