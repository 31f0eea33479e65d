package scenario

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

func render(t *testing.T, r report.Result, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.Print(&b, r, format, LayoutOf(r.Kind)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestServiceTable(t *testing.T) {
	n := observe.Node{Name: "n1", Pod: observe.SideResult{Pod: "netcheck-pod-abc-0", IP: "10.244.1.9", Checks: []observe.Check{
		{Kind: observe.DNS, ID: observe.NewCheckID(observe.RoleServiceDNS, "web.shop.svc.cluster.local", 0), Outcome: observe.OK, Resolved: []string{"10.96.7.7"}, Detail: "10.96.7.7"},
		{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleClusterIP, "10.96.7.7", 80), Outcome: observe.Timeout, Detail: "timed out"},
		{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleEndpoint, "10.244.1.2", 8080), Outcome: observe.OK},
		{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleEndpoint, "10.244.2.2", 8080), Outcome: observe.Timeout},
	}}, Host: observe.SideResult{Checks: []observe.Check{{Kind: observe.TCP, ID: observe.NewCheckID(observe.RoleNodePort, "198.18.0.11", 30080), Outcome: observe.OK}}},
		Facts: observe.NodeFacts{KubeProxy: &observe.KubeProxy{Mode: "none", Services: []observe.ServiceRules{{Programmed: observe.No}}}}}
	r := report.Result{TypeMeta: metav1.TypeMeta{Kind: KindService}, Status: report.Status{Nodes: []observe.Node{n}, Healthy: true}}
	out := render(t, r, "wide")
	for _, want := range []string{
		"n1    10.96.7.7  timeout     1/2 ok (10.244.2.2:8080 timeout)  ok        none (no kube-proxy rules)  netcheck-pod-abc-0  10.244.1.9",
		"No problems found: the Service answers pods on every node.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("service table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(render(t, r, "table"), "PROBE POD") {
		t.Error("the probe pod columns are for -o wide only")
	}
}

func TestPodsMatrix(t *testing.T) {
	peer := func(to string, ping, tcp observe.Outcome) []observe.Check {
		return []observe.Check{{Kind: observe.Ping, ID: observe.NewCheckID(observe.RolePeer, "", 0).Concerning(to), Outcome: ping, Latency: 300 * time.Microsecond},
			{Kind: observe.TCP, ID: observe.NewCheckID(observe.RolePeer, "", 0).Concerning(to), Outcome: tcp}}
	}
	a := observe.Node{Name: "a", Pod: observe.SideResult{Checks: peer("b", observe.OK, observe.Refused)}}
	b := observe.Node{Name: "b", Pod: observe.SideResult{Checks: peer("a", observe.Timeout, observe.Timeout)}}
	c := observe.Node{Name: "c", Err: "image cannot be pulled"}
	out := render(t, report.Result{TypeMeta: metav1.TypeMeta{Kind: KindPods}, Status: report.Status{Nodes: []observe.Node{a, b, c}}}, "table")
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "FROM \\ TO  a") {
		t.Fatalf("header: %q", lines[0])
	}
	for i, want := range []string{"a          -                          ok 300µs  not run", "b          ping timeout, tcp timeout  -         not run", "c          ERROR                      ERROR     -"} {
		if lines[i+1] != want {
			t.Errorf("row %d = %q, want %q (a refusal proves the path: it reads ok)", i+1, lines[i+1], want)
		}
	}
}

// TestPodsCellDualStack: a dual-stack pair's cell says each family.
func TestPodsCellDualStack(t *testing.T) {
	v6 := diagnose.PeerFamilyKey("b", "fd00:10:244:2::5")
	from := observe.Node{Name: "a", Pod: observe.SideResult{Checks: []observe.Check{
		{Kind: observe.Ping, ID: diagnose.PeerKey("b"), Outcome: observe.OK, Latency: 210 * time.Microsecond},
		{Kind: observe.TCP, ID: diagnose.PeerKey("b"), Outcome: observe.Refused},
		{Kind: observe.Ping, ID: v6, Outcome: observe.Timeout},
		{Kind: observe.TCP, ID: v6, Outcome: observe.Timeout},
	}}}
	if got, want := peerCell(from, "b"), "ok 210µs, IPv6 ping timeout, tcp timeout"; got != want {
		t.Errorf("cell %q, want %q", got, want)
	}
	from.Pod.Checks[2].Outcome, from.Pod.Checks[3].Outcome = observe.OK, observe.Refused
	from.Pod.Checks[2].Latency = 180 * time.Microsecond
	if got, want := peerCell(from, "b"), "ok 210µs, IPv6 ok 180µs"; got != want {
		t.Errorf("cell %q, want %q", got, want)
	}
}
