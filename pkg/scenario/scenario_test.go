package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

func specIDs(specs []probe.Spec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, string(s.Kind)+" "+s.ID.String())
	}
	return out
}

// Every scenario's kind has its layout in the registry, once.
func TestRegistry(t *testing.T) {
	scenarios := []Scenario{Node{}, External{}, DNS{}, &Service{}, &API{Service: &Service{}}, Pods{}}
	seen := map[string]bool{}
	for _, e := range Registry {
		if seen[e.Kind] || seen[e.Command] {
			t.Errorf("registered twice: %+v", e)
		}
		seen[e.Kind], seen[e.Command] = true, true
	}
	for _, s := range scenarios {
		if !seen[s.Kind()] {
			t.Errorf("%T's kind %q has no registry entry", s, s.Kind())
		}
	}
	if len(Registry) != len(scenarios) {
		t.Errorf("%d registry entries for %d scenarios", len(Registry), len(scenarios))
	}
}

func TestNodePlanReadsFactsOnly(t *testing.T) {
	p, skip := Node{}.Plan()
	sample, _ := target.Parse(diagnose.SampleKey)
	sample6, _ := target.Parse(diagnose.SampleKey6)
	if d := cmp.Diff(fanout.Plan{Consider: []target.Target{sample, sample6}}, p, cmp.Comparer(func(a, b target.Target) bool { return a.Key() == b.Key() })); d != "" || skip != "" {
		t.Errorf("node plan (-want +got):\n%s skip %q", d, skip)
	}
}

func TestDNSServersAndPlan(t *testing.T) {
	ready := corev1.PodStatus{PodIP: "10.244.1.3", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	crashing := corev1.PodStatus{PodIP: "10.244.2.3", ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 7,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}
	servers := DNSServers([]corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "coredns-a"}, Spec: corev1.PodSpec{NodeName: "n1"}, Status: ready},
		{ObjectMeta: metav1.ObjectMeta{Name: "coredns-b"}, Spec: corev1.PodSpec{NodeName: "n2"}, Status: crashing},
		{ObjectMeta: metav1.ObjectMeta{Name: "coredns-c"}, Spec: corev1.PodSpec{NodeName: "n3"}, Status: corev1.PodStatus{PodIP: "$(id)"}},
	})
	want := []diagnose.DNSServer{{Name: "coredns-a", Node: "n1", IP: "10.244.1.3", Ready: true},
		{Name: "coredns-b", Node: "n2", IP: "10.244.2.3", Restarts: 7, Reason: "CrashLoopBackOff"},
		{Name: "coredns-c", Node: "n3"}} // an IP that does not parse is dropped
	if d := cmp.Diff(want, servers); d != "" {
		t.Fatalf("servers (-want +got):\n%s", d)
	}
	in := diagnose.DNSInput{ClusterIP: "10.96.0.10", Name: "kubernetes.default.svc.cluster.local", Servers: servers}
	p, skip := DNS{In: in}.Plan()
	if skip != "" {
		t.Fatal(skip)
	}
	// The crashing server is not asked; the ready one and the Service are.
	if d := cmp.Diff([]string{"resolv.conf resolv.conf", "dns service 10.96.0.10", "dns pod 10.244.1.3"}, specIDs(p.PodSpecs)); d != "" {
		t.Errorf("dns checks (-want +got):\n%s", d)
	}
	if len(p.Reach) != 0 || len(p.Consider) != 1 {
		t.Errorf("dns reaches nothing but its servers: %+v", p)
	}
	in.Servers = servers[1:2]
	if _, skip := (DNS{In: in}).Plan(); skip != "no DNS server is ready: no probe pod was started" {
		t.Errorf("no ready server: skip %q", skip)
	}
}

// --outside adds the outside name through the Service on the pod side
// (and timed through the search list, as applications look it up)
// and, on the node side, the node's resolv.conf, the name through it, and
// the same name asked of each forward target.
func TestDNSPlanOutside(t *testing.T) {
	in := diagnose.DNSInput{ClusterIP: "10.96.0.10", Name: "kubernetes.default.svc.cluster.local", Outside: "www.example.net",
		Servers: []diagnose.DNSServer{{Name: "coredns-a", Node: "n1", IP: "10.244.1.3", Ready: true}},
		Forward: diagnose.ParseCorefileForward(".:53 {\n  forward . 198.19.0.1 dns://198.19.0.2:5353\n}\n")}
	p, _ := DNS{In: in}.Plan()
	if d := cmp.Diff([]string{"resolv.conf resolv.conf", "dns service 10.96.0.10", "dns pod 10.244.1.3", "dns outside name via service 10.96.0.10", "lookup search www.example.net"}, specIDs(p.PodSpecs)); d != "" {
		t.Errorf("pod checks (-want +got):\n%s", d)
	}
	if p.NodeSpecs == nil {
		t.Fatal("no node checks of the forward targets")
	}
	node := p.NodeSpecs(corev1.Node{})
	if d := cmp.Diff([]string{"resolv.conf resolv.conf", "dns node resolver", "dns upstream 198.19.0.1", "dns upstream 198.19.0.2:5353"}, specIDs(node)); d != "" {
		t.Errorf("node checks (-want +got):\n%s", d)
	}
	// The node's own resolvers: no server given.
	if d := cmp.Diff([]string{"nslookup", "www.example.net."}, node[1].Argv[len(node[1].Argv)-2:]); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	// The port goes with the server, as busybox nslookup takes it.
	if d := cmp.Diff([]string{"nslookup", "www.example.net.", "198.19.0.2:5353"}, node[3].Argv[len(node[3].Argv)-3:]); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	// forward . /etc/resolv.conf: no forward address to ask from the node.
	in.Forward = diagnose.Forward{ResolvConf: true}
	p, _ = DNS{In: in}.Plan()
	if d := cmp.Diff([]string{"resolv.conf resolv.conf", "dns node resolver"}, specIDs(p.NodeSpecs(corev1.Node{}))); d != "" {
		t.Errorf("node checks with forward . /etc/resolv.conf (-want +got):\n%s", d)
	}
}

func TestCorefileConfigMap(t *testing.T) {
	vol := func(name string, keys ...string) corev1.Volume {
		v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}
		for _, k := range keys {
			v.ConfigMap.Items = append(v.ConfigMap.Items, corev1.KeyToPath{Key: k, Path: k})
		}
		return v
	}
	pod := func(vs ...corev1.Volume) corev1.Pod { return corev1.Pod{Spec: corev1.PodSpec{Volumes: vs}} }
	tests := []struct {
		pods []corev1.Pod
		want string
	}{
		{pods: []corev1.Pod{pod(vol("coredns", "Corefile"))}, want: "coredns"},
		{pods: []corev1.Pod{pod(vol("extra"), vol("coredns-custom", "Corefile"))}, want: "coredns-custom"},
		{pods: []corev1.Pod{pod(vol("coredns"))}, want: "coredns"},
		{pods: []corev1.Pod{pod(corev1.Volume{Name: "tmp"})}, want: ""},
		{pods: nil, want: ""},
	}
	for i, tt := range tests {
		if got := CorefileConfigMap(tt.pods); got != tt.want {
			t.Errorf("%d: %q, want %q", i, got, tt.want)
		}
	}
}

func TestPodsPlanRing(t *testing.T) {
	p, _ := Pods{Peers: 1, Timeout: time.Second, Nets: []diagnose.NodeNet{{Name: "a", PodCIDRs: []string{"10.244.0.0/24"}}}}.Plan()
	got := specIDs(p.PeerSpecs(fanout.Peer{Node: "a", PodIP: "10.244.0.5"}, []fanout.Peer{{Node: "a", PodIP: "10.244.0.5"}, {Node: "b", PodIP: "10.244.1.5"}, {Node: "c", PodIP: "10.244.2.5"}}))
	if d := cmp.Diff([]string{"ping pod on b", "tcp pod on b", "path-mtu pod on b"}, got); d != "" {
		t.Errorf("one peer, the next in the ring (-want +got):\n%s", d)
	}
	if len(p.Consider) != 1 || p.Consider[0].Key() != "10.244.0.1" {
		t.Errorf("facts for the podCIDRs: %v", p.Consider)
	}
}

// TestPodsPlanDualStack: a dual-stack peer is pinged and connected over
// its other family's address too, from a pod that has that family; the
// path MTU is measured in the first family only.
func TestPodsPlanDualStack(t *testing.T) {
	p, _ := Pods{Peers: 1, Timeout: time.Second}.Plan()
	self := fanout.Peer{Node: "a", PodIP: "10.244.0.5", PodIPs: []string{"10.244.0.5", "fd00:10:244::5"}}
	b := fanout.Peer{Node: "b", PodIP: "10.244.1.5", PodIPs: []string{"10.244.1.5", "fd00:10:244:1::5"}}
	specs := p.PeerSpecs(self, []fanout.Peer{self, b})
	want := []string{"ping pod on b", "tcp pod on b", "path-mtu pod on b", "ping pod on b over IPv6", "tcp pod on b over IPv6"}
	if d := cmp.Diff(want, specIDs(specs)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ping", "-c", "3", "-i", "0.05", "-W", "1", "-w", "1", "fd00:10:244:1::5"}, specs[3].Argv); d != "" {
		t.Errorf("IPv6 ping argv (-want +got):\n%s", d)
	}
	if got := specs[4].ID; got != diagnose.PeerFamilyKey("b", "fd00:10:244:1::5") {
		t.Errorf("IPv6 TCP check's identity %+v", got)
	}
	// A self without an IPv6 address does not try the peer's.
	v4only := fanout.Peer{Node: "a", PodIP: "10.244.0.5"}
	if got := specIDs(p.PeerSpecs(v4only, []fanout.Peer{v4only, b})); len(got) != 3 {
		t.Errorf("single-stack self: %v", got)
	}
}

func TestAPIPlan(t *testing.T) {
	svc := &Service{In: diagnose.ServiceInput{Namespace: "default", Name: "kubernetes", ClusterIP: "10.96.0.1",
		Port: diagnose.ServicePort{Name: "https", Protocol: "tcp", Port: 443}, Endpoints: []diagnose.Endpoint{{IP: "198.18.0.10", Port: 6443, Ready: true}}}}
	p, _ := (&API{Service: svc, Path: "/api/v1/namespaces/x/pods", ServiceAccount: "x/web"}).Plan()
	got := specIDs(p.PodSpecs)
	// The account's request is the plugin's, never a pod's.
	want := []string{"http https https://10.96.0.1:443/version"}
	if d := cmp.Diff(want, got[len(got)-1:]); d != "" {
		t.Errorf("HTTPS checks after the Service's (-want +got):\n%s", d)
	}
	for _, id := range got {
		if strings.Contains(id, "as-sa") {
			t.Errorf("a pod check carries the account's token: %s", id)
		}
	}
}
