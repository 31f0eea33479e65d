package diagnose

import (
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod probes wait for the policy agent only when a policy selects them
// and they run as themselves.
func TestProbeSettle(t *testing.T) {
	deny := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all", Namespace: "netcheck"}}
	probe := netpol.Pod{Name: ProbeClient, Namespace: "netcheck", Labels: map[string]string{"app": "netcheck"}}
	selected := Policies{Read: true, List: []networkingv1.NetworkPolicy{deny}, Clients: map[string]netpol.Pod{"n1": probe}}
	if got := selected.ProbeSettle(); got != PolicySettle {
		t.Errorf("selected: %s, want %s", got, PolicySettle)
	}
	for name, p := range map[string]Policies{
		"--from":      {Read: true, List: selected.List, Clients: selected.Clients, AsWorkload: true},
		"not read":    {Clients: selected.Clients},
		"no policies": {Read: true, Clients: selected.Clients},
		"elsewhere":   {Read: true, List: []networkingv1.NetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "shop"}}}, Clients: selected.Clients},
	} {
		if got := p.ProbeSettle(); got != 0 {
			t.Errorf("%s: %s, want none", name, got)
		}
	}
}
