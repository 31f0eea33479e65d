package scenario

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

// A dual-stack Service's row: each ClusterIP's connect and proxy rules, by family.
func TestServiceTableDualStack(t *testing.T) {
	n := observe.Node{Name: "n1", Pod: observe.SideResult{Pod: "netcheck-pod-abc-0", IP: "10.244.1.9", Checks: []observe.Check{
		{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleClusterIP, "10.96.7.7", 80), Outcome: observe.OK},
		{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleClusterIP, "fd00:10:96::7a7", 80), Outcome: observe.Refused, Detail: "Connection refused"},
		{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleEndpoint, "10.244.1.2", 8080), Outcome: observe.OK},
	}}, Facts: observe.NodeFacts{KubeProxy: &observe.KubeProxy{Mode: "iptables", Services: []observe.ServiceRules{
		{VIP: "10.96.7.7:80/tcp", Programmed: observe.Yes, Endpoints: 3},
		{VIP: "[fd00:10:96::7a7]:80/tcp", Programmed: observe.Yes, Rejects: true}}}}}
	r := report.Result{TypeMeta: metav1.TypeMeta{Kind: KindService}, Status: report.Status{Nodes: []observe.Node{n}}}
	out := render(t, r, "table")
	for _, want := range []string{"IPv4 ok; IPv6 refused (Connection refused)", "IPv4 iptables: 3 endpoints; IPv6 iptables: REJECT (no endpoints)"} {
		if !strings.Contains(out, want) {
			t.Errorf("service table lacks %q:\n%s", want, out)
		}
	}
}
