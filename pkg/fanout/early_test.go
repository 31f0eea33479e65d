package fanout_test

import (
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
)

// TestRoutesWithThePodAddressAreReadBesideItsChecks: for a literal target
// the routes that need the pod's address are read while the pod's checks
// run, so after "both sides checked" only the flow witness is left; the
// facts still hold the pod's ingress device and its route to the target.
func TestRoutesWithThePodAddressAreReadBesideItsChecks(t *testing.T) {
	out := loadOutputs(t)
	r := runWith(t, realistic(0.2), 3, out, func(c *fanout.Config) {})
	for _, o := range r.obs {
		var podReady, checked int64 = -1, -1
		var reads []int64
		for _, e := range o.Timeline {
			switch {
			case e.What == "pod probe ready":
				podReady = e.AtMillis
			case e.What == "both sides checked":
				checked = e.AtMillis
			case strings.HasPrefix(e.What, "exec node netcheck-facts"):
				reads = append(reads, e.AtMillis)
			}
		}
		if podReady < 0 || checked < 0 || len(reads) != 2 {
			t.Fatalf("%s: want pod Ready, both sides checked and 2 fact reads (static, routes): %+v", o.Name, o.Timeline)
		}
		for _, at := range reads {
			if at >= checked {
				t.Errorf("%s: a fact read started at %dms, after both sides were checked (%dms)", o.Name, at, checked)
			}
		}
		if routes := max(reads[0], reads[1]); routes < podReady {
			t.Errorf("%s: the routes read started at %dms, before the pod was Ready (%dms)", o.Name, routes, podReady)
		}
		if o.Facts.PodDev == "" || len(o.Facts.Targets) == 0 || o.Facts.Targets[0].PodRoute == nil {
			t.Errorf("%s: the routes with the pod's address are missing: dev %q, targets %+v", o.Name, o.Facts.PodDev, o.Facts.Targets)
		}
	}
}
