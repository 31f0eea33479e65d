package scenario

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// dualCoreDNS is the dual-stack lab's CoreDNS pod as the API shows it.
func dualCoreDNS(podIPs ...string) corev1.Pod {
	st := corev1.PodStatus{PodIP: podIPs[0], Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	for _, ip := range podIPs {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-7d9f", Namespace: "kube-system"}, Spec: corev1.PodSpec{NodeName: "nc-node3"}, Status: st}
}

// On a dual-stack cluster each DNS pod is asked at its address of the
// second family too, the AAAA name through the Service, and the IPv6
// sample flow's facts are read beside the IPv4 one's.
func TestDNSPlanDualStack(t *testing.T) {
	pods := []corev1.Pod{dualCoreDNS("10.244.3.5", "fd00:10:244:3::5"),
		dualCoreDNS("10.244.2.9", "$(id)")} // an address that does not parse is no second family
	servers := DNSServers(pods)
	want := []diagnose.DNSServer{{Name: "coredns-7d9f", Node: "nc-node3", IP: "10.244.3.5", Other: "fd00:10:244:3::5", Ready: true},
		{Name: "coredns-7d9f", Node: "nc-node3", IP: "10.244.2.9", Ready: true}}
	if d := cmp.Diff(want, servers); d != "" {
		t.Fatalf("servers (-want +got):\n%s", d)
	}
	aaaa := &diagnose.DNSAAAA{Name: "fd00-10-244-3--5.kube-system.pod.cluster.local", Want: []string{"fd00:10:244:3::5"}}
	in := diagnose.DNSInput{ClusterIP: "10.96.0.10", Name: "kubernetes.default.svc.cluster.local", Servers: servers, AAAA: aaaa}
	p, skip := DNS{In: in}.Plan()
	if skip != "" {
		t.Fatal(skip)
	}
	var ids []observe.CheckID
	for _, s := range p.PodSpecs {
		ids = append(ids, s.ID)
	}
	wantIDs := []observe.CheckID{diagnose.DNSResolvKey, diagnose.DNSServiceKey("10.96.0.10"), diagnose.DNSPodKey("10.244.3.5"), diagnose.DNSPodKey("10.244.2.9"),
		diagnose.DNSPodKey("fd00:10:244:3::5"), {Role: observe.RoleDNSService, Addr: "10.96.0.10", Of: "AAAA"}}
	if d := cmp.Diff(wantIDs, ids); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"nslookup", "-type=AAAA", "fd00-10-244-3--5.kube-system.pod.cluster.local.", "10.96.0.10"}, p.PodSpecs[5].Argv); d != "" {
		t.Errorf("AAAA argv (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"nslookup", "kubernetes.default.svc.cluster.local.", "fd00:10:244:3::5"}, p.PodSpecs[4].Argv); d != "" {
		t.Errorf("IPv6 pod argv (-want +got):\n%s", d)
	}
	if len(p.Consider) != 2 || p.Consider[0].Key() != diagnose.SampleKey || p.Consider[1].Key() != diagnose.SampleKey6 {
		t.Errorf("considered %v, want both samples", p.Consider)
	}
	// A dual-stack DNS Service: asked at its IPv6 address too.
	in.ServiceIPs = []string{"10.96.0.10", "fd00:10:96::a"}
	p, _ = DNS{In: in}.Plan()
	if got := p.PodSpecs[len(p.PodSpecs)-2]; got.ID != diagnose.DNSServiceKey("fd00:10:96::a") ||
		strings.Join(got.Argv, " ") != "nslookup kubernetes.default.svc.cluster.local. fd00:10:96::a" {
		t.Errorf("the Service's IPv6 address: %+v", got)
	}
	// Single-stack: as before, one sample, no family checks.
	in.Servers = DNSServers([]corev1.Pod{dualCoreDNS("10.244.3.5")})
	p, _ = DNS{In: in}.Plan()
	if len(p.PodSpecs) != 3 || len(p.Consider) != 1 {
		t.Errorf("single-stack plan: %v, considered %v", specIDs(p.PodSpecs), p.Consider)
	}
}

func TestDNSAAAAName(t *testing.T) {
	lab, err := os.ReadFile("../diagnose/testdata/corefile.lab")
	if err != nil {
		t.Fatal(err)
	}
	pods := []corev1.Pod{dualCoreDNS("10.244.3.5", "fd00:10:244:3::5")}
	servers := DNSServers(pods)
	svc := func(ips ...string) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: ips[0], ClusterIPs: ips}}
	}
	const name = "kubernetes.default.svc.cluster.local"
	tests := []struct {
		name     string
		svc      corev1.Service
		servers  []diagnose.DNSServer
		corefile string
		asked    string
		want     *diagnose.DNSAAAA
		why      string
	}{
		{"a dual-stack DNS Service: its own name", svc("10.96.0.10", "fd00:10:96::a"), servers, string(lab), name,
			&diagnose.DNSAAAA{Name: "kube-dns.kube-system.svc.cluster.local", Of: "Service kube-system/kube-dns", Want: []string{"fd00:10:96::a"}}, ""},
		{"the lab: a single-stack Service, pods insecure: the DNS pod's own record", svc("10.96.0.10"), servers, string(lab), name,
			&diagnose.DNSAAAA{Name: "fd00-10-244-3--5.kube-system.pod.cluster.local", Of: "the DNS pod kube-system/coredns-7d9f's own record", Want: []string{"fd00:10:244:3::5"}}, ""},
		{"another cluster domain, from --name", svc("10.96.0.10"), servers, string(lab), "kubernetes.default.svc.corp.local.",
			&diagnose.DNSAAAA{Name: "fd00-10-244-3--5.kube-system.pod.corp.local", Of: "the DNS pod kube-system/coredns-7d9f's own record", Want: []string{"fd00:10:244:3::5"}}, ""},
		{"no pod records in the Corefile", svc("10.96.0.10"), servers, ".:53 {\n    kubernetes cluster.local\n}\n", name, nil,
			"the DNS Service has no IPv6 address and the Corefile serves no pod records (pods insecure|verified): no name known to have one"},
		{"--name not a Service name", svc("10.96.0.10", "fd00:10:96::a"), servers, string(lab), "db.corp.example", nil,
			"--name db.corp.example is not a Service name (NAME.NAMESPACE.svc.DOMAIN): the cluster domain is unknown"},
		{"no ready DNS pod with an IPv6 address", svc("10.96.0.10"), DNSServers([]corev1.Pod{dualCoreDNS("10.244.3.5")}), string(lab), name, nil,
			"no ready DNS pod has an IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := DNSAAAAName(tt.svc, tt.servers, pods, tt.corefile, tt.asked)
			if d := cmp.Diff(tt.want, got); d != "" || why != tt.why {
				t.Errorf("(-want +got):\n%s why %q", d, why)
			}
		})
	}
}

// A NodeLocal DNSCache is asked the cluster name from both sides, and the
// node's input hook about the pods' queries to it.
func TestDNSPlanNodeLocal(t *testing.T) {
	in := diagnose.DNSInput{ClusterIP: "10.96.0.10", Name: "kubernetes.default.svc.cluster.local",
		Servers: []diagnose.DNSServer{{Name: "coredns-1", IP: "10.244.3.2", Ready: true}}, NodeLocal: &diagnose.NodeLocal{Addr: "169.254.20.10"}}
	p, skip := DNS{In: in}.Plan()
	if skip != "" {
		t.Fatal(skip)
	}
	last := p.PodSpecs[len(p.PodSpecs)-1]
	if last.ID != diagnose.DNSCacheKey("169.254.20.10") || strings.Join(last.Argv, " ") != "nslookup kubernetes.default.svc.cluster.local. 169.254.20.10" {
		t.Errorf("pod side's cache check: %+v", last)
	}
	if p.NodeSpecs == nil {
		t.Fatal("no node-side checks")
	}
	if ns := p.NodeSpecs(corev1.Node{}); len(ns) != 1 || ns[0].ID != last.ID {
		t.Errorf("node side's checks: %+v", ns)
	}
	if len(p.Local) != 1 || p.Local[0].Key != diagnose.NodeLocalKey || p.Local[0].Addr.String() != "169.254.20.10" || p.Local[0].Proto != "udp" || p.Local[0].Port != 53 {
		t.Errorf("local flows %+v", p.Local)
	}
}
