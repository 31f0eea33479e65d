package plan

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, mods ...func(*corev1.Node)) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelOSStable: "linux"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	for _, m := range mods {
		m(&n)
	}
	return n
}

func notReady(n *corev1.Node) {
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "PLEG is not healthy"}}
}
func windows(n *corev1.Node) { n.Labels[corev1.LabelOSStable] = "windows" }
func tainted(n *corev1.Node) {
	n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
}
func zone(z string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[zoneLabel] = z }
}

func names(ns []corev1.Node) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return strings.Join(out, ",")
}

func TestSelectNodes(t *testing.T) {
	all := []corev1.Node{node("c"), node("a"), node("b", notReady), node("w", windows), node("t", tainted)}
	tests := []struct {
		name    string
		sel     NodeSelection
		want    string
		skipped string
		err     string
	}{
		{name: "all ready linux nodes, tainted ones tolerated", want: "a,c,t", skipped: "b: NotReady (KubeletNotReady: PLEG is not healthy); w: windows node"},
		{name: "skip tainted", sel: NodeSelection{SkipTainted: true}, want: "a,c", skipped: "tainted dedicated=gpu:NoSchedule"},
		{name: "named nodes", sel: NodeSelection{Names: []string{"c", "c", "a"}}, want: "a,c"},
		{name: "a named NotReady node is skipped with the reason", sel: NodeSelection{Names: []string{"b", "a"}}, want: "a", skipped: "NotReady"},
		{name: "unknown node", sel: NodeSelection{Names: []string{"zz"}}, err: "node(s) not found: zz; known nodes: a, b, c, t, w"},
		{name: "nothing probeable", sel: NodeSelection{Names: []string{"b"}}, err: "no node can be probed:\n  b: NotReady"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectNodes(all, tt.sel)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names(got.Nodes) != tt.want {
				t.Errorf("nodes = %s, want %s", names(got.Nodes), tt.want)
			}
			var sk []string
			for _, s := range got.Skipped {
				sk = append(sk, s.Node+": "+s.Reason)
			}
			if tt.skipped != "" && !strings.Contains(strings.Join(sk, "; "), tt.skipped) {
				t.Errorf("skipped = %q, want %q", sk, tt.skipped)
			}
		})
	}
}

func TestMaxNodesSamplesEveryZone(t *testing.T) {
	var all []corev1.Node
	for _, n := range []string{"a1", "a2", "a3", "a4", "b1", "b2", "c1"} {
		all = append(all, node(n, zone(n[:1])))
	}
	got, err := SelectNodes(all, NodeSelection{MaxNodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	if names(got.Nodes) != "a1,b1,c1" || !strings.Contains(got.Sampled, "3 of 7") {
		t.Fatalf("sampled %s (%q), want one per zone", names(got.Nodes), got.Sampled)
	}
}

func TestTargets(t *testing.T) {
	ts, err := Targets([]string{"192.168.2.0/24", "db.example:5432"}, []string{"192.168.2.10", "192.168.2.11"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range ts {
		got = append(got, string(tg.Kind)+" "+tg.Host)
	}
	if strings.Join(got, "; ") != "cidr 192.168.2.10; cidr 192.168.2.11; host:port db.example" {
		t.Fatalf("targets = %q", got)
	}
	if _, err := Targets([]string{"192.168.2.0/24"}, []string{"10.0.0.1"}); err == nil || !strings.Contains(err.Error(), "not inside any CIDR") {
		t.Fatalf("host outside the CIDR: %v", err)
	}
	if _, err := Targets(nil, nil); err == nil {
		t.Fatal("no target must be an error")
	}
	ts, _ = Targets([]string{"10.1.0.0/16", "10.1.0.0/16"}, nil)
	if len(ts) != 1 || ts[0].Host != "10.1.0.1" {
		t.Fatalf("duplicate CIDR, default host: %+v", ts)
	}
}
