package diagnose

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// The dual-stack lab's world: nc-node1..3, pods 10.244.N.0/24 and
// fd00:10:244:N::/64, a web pod on each node, Service shop/web dual-stack
// (PreferDualStack) at 10.98.0.5 and fd00:10:96::5, port 80 → 8080. Each
// node's facts are its fact script's as captured on the lab
// (pkg/probe/testdata: healthy, or with ip6tables' FORWARD policy DROP),
// walked for the other nodes' pod ranges in both families as the plan
// considers them.
const cip6 = "fd00:10:96::5"

var dualNets = []NodeNet{
	{Name: "nc-node1", IP: "198.18.0.11", PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}},
	{Name: "nc-node2", IP: "198.18.0.12", PodCIDRs: []string{"10.244.2.0/24", "fd00:10:244:2::/64"}},
	{Name: "nc-node3", IP: "198.18.0.13", PodCIDRs: []string{"10.244.3.0/24", "fd00:10:244:3::/64"}},
}

func ip4(i int) string { return fmt.Sprintf("10.244.%d.2", i) }
func ip6(i int) string { return fmt.Sprintf("fd00:10:244:%d::2", i) }

// dualFacts assembles node i's facts from a captured fact script: its pod's
// addresses, the other nodes' pod ranges as targets, both ClusterIPs' VIPs.
func dualFacts(t *testing.T, file string, i int) observe.NodeFacts {
	t.Helper()
	out, err := os.ReadFile("../probe/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var targets []probe.FactTarget
	for _, nn := range dualNets {
		for _, c := range nn.PodCIDRs {
			key, _ := PodCIDRKey(c)
			targets = append(targets, probe.FactTarget{Key: key, Addr: netip.MustParseAddr(key), Proto: "icmp"})
		}
	}
	q := probe.FactsQuery{PodIP: fmt.Sprintf("10.244.%d.16", i), PodIP6: fmt.Sprintf("fd00:10:244:%d::10", i), Targets: targets}
	return probe.AssembleFlows(probe.ParseFacts(string(out), q), probe.Flows{PodIP: q.PodIP, PodIP6: q.PodIP6,
		PodCIDRs: dualNets[i-1].PodCIDRs, Targets: targets})
}

func svcDual(t *testing.T) ServiceInput {
	t.Helper()
	in := ServiceInput{Namespace: "shop", Name: "web", Type: "ClusterIP", ClusterIP: "10.98.0.5",
		ClusterIPs: []string{"10.98.0.5", cip6}, IPFamilies: []string{"IPv4", "IPv6"}, IPFamilyPolicy: "PreferDualStack",
		Selector: map[string]string{"app": "web"},
		Port:     ServicePort{Name: "http", Protocol: "tcp", Port: 80, TargetPort: "8080"},
		Domain:   "cluster.local", NodeNets: dualNets,
		Slices: []Slice{{Name: "web-4xk2p", AddressType: "IPv4", ManagedBy: endpointSliceController},
			{Name: "web-9wq7z", AddressType: "IPv6", ManagedBy: endpointSliceController}}}
	for i, nn := range dualNets {
		pod := "web-" + nn.Name
		in.Backends = append(in.Backends, Backend{Pod: pod, Node: nn.Name, IP: ip4(i + 1), IPs: []string{ip4(i + 1), ip6(i + 1)}, Ready: true, Declared: []string{"http:8080/TCP"}, TargetPort: 8080})
		in.Endpoints = append(in.Endpoints, Endpoint{IP: ip4(i + 1), Port: 8080, Node: nn.Name, Pod: pod, Ready: true, Slice: "web-4xk2p"},
			Endpoint{IP: ip6(i + 1), Port: 8080, Node: nn.Name, Pod: pod, Ready: true, Slice: "web-9wq7z"})
	}
	for i, nn := range dualNets {
		n := observe.Node{Name: nn.Name, IP: nn.IP}
		n.Pod = observe.SideResult{Pod: "p", IP: fmt.Sprintf("10.244.%d.16", i+1), IPs: []string{fmt.Sprintf("10.244.%d.16", i+1), fmt.Sprintf("fd00:10:244:%d::10", i+1)}}
		n.Pod.Checks = []observe.Check{
			{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Detail: "nameserver 10.96.0.10; search default.svc.cluster.local svc.cluster.local cluster.local; options ndots:5", Resolved: []string{"10.96.0.10"}},
			{Kind: observe.DNS, ID: SvcDNSKey(fqdn), Outcome: observe.OK, Resolved: []string{"10.98.0.5", cip6}},
			{Kind: observe.TCP, ID: SvcClusterIPKey("10.98.0.5", 80), Outcome: observe.OK},
			{Kind: observe.TCP, ID: SvcClusterIPKey(cip6, 80), Outcome: observe.OK},
		}
		for _, e := range in.Endpoints {
			n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.TCP, ID: SvcEndpointKey(e.IP, 8080), Outcome: observe.OK})
		}
		n.Host.Checks = []observe.Check{{Kind: observe.TCP, ID: SvcClusterIPKey("10.98.0.5", 80), Outcome: observe.OK},
			{Kind: observe.TCP, ID: SvcClusterIPKey(cip6, 80), Outcome: observe.OK}}
		n.Facts = dualFacts(t, "facts-script.dual-node1.out", i+1)
		n.Facts.KubeProxy = &observe.KubeProxy{Mode: "iptables", Processes: []string{"kube-proxy"}, ProcessesRead: true, Services: []observe.ServiceRules{
			{VIP: "10.98.0.5:80/tcp", Programmed: observe.Yes, Endpoints: 3, Rules: []string{"-A KUBE-SERVICES -d 10.98.0.5/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X"}},
			{VIP: "[" + cip6 + "]:80/tcp", Programmed: observe.Yes, Endpoints: 3, Rules: []string{"-A KUBE-SERVICES -d fd00:10:96::5/128 -p tcp -m tcp --dport 80 -j KUBE-SVC-Y"}}}}
		in.Nodes = append(in.Nodes, n)
	}
	return in
}

// v6NotReady: the IPv6 slice is a custom controller's, its endpoints not
// ready; kube-proxy rejects the IPv6 ClusterIP (REJECT: refused).
func v6NotReady(in *ServiceInput, manager string) {
	in.Selector, in.Backends = nil, nil
	in.Slices = []Slice{{Name: "web-v4", AddressType: "IPv4", ManagedBy: manager}, {Name: "web-v6", AddressType: "IPv6", ManagedBy: manager}}
	var eps []Endpoint
	for _, e := range in.Endpoints {
		e.Slice = "web-v4"
		if is6(e.IP) {
			e.Slice, e.Ready = "web-v6", false
		}
		eps = append(eps, e)
	}
	in.Endpoints = eps
	for i := range in.Nodes {
		n := &in.Nodes[i]
		var keep []observe.Check
		for _, c := range n.Pod.Checks {
			if c.ID.Role == observe.RoleEndpoint && is6(c.ID.Addr) {
				continue // not ready: never sampled
			}
			if c.ID == SvcClusterIPKey(cip6, 80) {
				c.Outcome, c.Detail = observe.Refused, "Connection refused"
			}
			keep = append(keep, c)
		}
		n.Pod.Checks = keep
		for j := range n.Host.Checks {
			if n.Host.Checks[j].ID == SvcClusterIPKey(cip6, 80) {
				n.Host.Checks[j].Outcome = observe.Refused
			}
		}
		n.Facts.KubeProxy.Services[1] = observe.ServiceRules{VIP: "[" + cip6 + "]:80/tcp", Programmed: observe.Yes, Rejects: true,
			Rules: []string{`-A KUBE-SERVICES -d fd00:10:96::5/128 -p tcp -m comment --comment "shop/web:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp6-port-unreachable`}}
	}
}

// forwardDrop6 puts ip6tables' FORWARD policy DROP on node i (the
// captured node's rules) and loses what it drops: node i's pods reach no
// IPv6 endpoint on another node, the other nodes' pods not node i's.
func forwardDrop6(t *testing.T, in *ServiceInput, i int) {
	bad := dualNets[i-1].Name
	node(in, bad).Facts = dualFacts(t, "facts-script.dual-node1-v6faults.out", i)
	node(in, bad).Facts.KubeProxy = in.Nodes[(i)%3].Facts.KubeProxy
	for j := 1; j <= 3; j++ {
		// Its own endpoint too: the bridge hands pod-to-pod frames to ip6tables.
		setPod(in, bad, SvcEndpointKey(ip6(j), 8080), observe.Timeout)
		setPod(in, dualNets[j-1].Name, SvcEndpointKey(ip6(i), 8080), observe.Timeout)
	}
	// Balanced, this once, onto an endpoint it cannot reach.
	setPod(in, bad, SvcClusterIPKey(cip6, 80), observe.Timeout)
}

func TestServiceDualStack(t *testing.T) {
	tests := []struct {
		name     string
		mod      func(*ServiceInput)
		cause    Cause
		nodes    string
		summary  []string
		evidence []string
		fix      []string
	}{
		{name: "healthy: both families answer, nothing to say", mod: func(*ServiceInput) {}},
		{name: "the IPv6 slice's endpoints not ready (a custom controller's): the IPv6 ClusterIP fails, IPv4 works",
			mod: func(in *ServiceInput) { v6NotReady(in, "shop-operator") }, cause: CauseFamilyNoEndpoints,
			summary: []string{"IPv6 ClusterIP fd00:10:96::5 has no ready endpoint while its IPv4 ClusterIP 10.98.0.5 has 3", "its AAAA record"},
			evidence: []string{"spec.ipFamilyPolicy=PreferDualStack, spec.ipFamilies=IPv4,IPv6, spec.clusterIPs=10.98.0.5,fd00:10:96::5",
				"EndpointSlice web-v6 (IPv6, managed by shop-operator): 0 of 3 endpoints ready; not ready: fd00:10:244:1::2 (web-nc-node1 on nc-node1) ready=false",
				"EndpointSlice web-v4 (IPv4, managed by shop-operator): 3 of 3 endpoints ready",
				"pod@nc-node1 tcp cluster-ip [fd00:10:96::5]:80: refused (Connection refused)",
				"pod@nc-node1 tcp cluster-ip 10.98.0.5:80: ok"},
			fix: []string{"the IPv6 EndpointSlice is written by shop-operator, not by Kubernetes' EndpointSlice controller: it must set conditions.ready: true on the IPv6 endpoints once they serve (or stop publishing them): kubectl -n shop get endpointslices -l kubernetes.io/service-name=web -o wide",
				`kubectl -n shop patch service web -p '{"spec":{"ipFamilyPolicy":"SingleStack"}}'   # only if the Service need not answer over IPv6: keeps IPv4 10.98.0.5, releases fd00:10:96::5`}},
		{name: "hand-made slices without a managed-by label",
			mod: func(in *ServiceInput) { v6NotReady(in, "") }, cause: CauseFamilyNoEndpoints,
			fix: []string{"the IPv6 EndpointSlice is written by something without an endpointslice.kubernetes.io/managed-by label (a person or a tool), not by Kubernetes' EndpointSlice controller"}},
		{name: "the primary family without endpoints: it cannot be dropped in place",
			mod: func(in *ServiceInput) {
				v6NotReady(in, "shop-operator")
				for i := range in.Endpoints {
					in.Endpoints[i].Ready = !in.Endpoints[i].Ready
				}
				for i := range in.Nodes {
					n := &in.Nodes[i]
					for j := range n.Pod.Checks {
						switch n.Pod.Checks[j].ID {
						case SvcClusterIPKey(cip6, 80):
							n.Pod.Checks[j].Outcome, n.Pod.Checks[j].Detail = observe.OK, ""
						case SvcClusterIPKey("10.98.0.5", 80):
							n.Pod.Checks[j].Outcome = observe.Refused
						}
						if id := n.Pod.Checks[j].ID; id.Role == observe.RoleEndpoint {
							n.Pod.Checks[j].ID = SvcEndpointKey(strings.Replace(strings.Replace(id.Addr, "10.244.", "fd00:10:244:", 1), ".2", "::2", 1), 8080)
						}
					}
					n.Facts.KubeProxy.Services[0], n.Facts.KubeProxy.Services[1] = observe.ServiceRules{VIP: "10.98.0.5:80/tcp", Programmed: observe.Yes, Rejects: true},
						observe.ServiceRules{VIP: "[" + cip6 + "]:80/tcp", Programmed: observe.Yes, Endpoints: 3}
				}
			}, cause: CauseFamilyNoEndpoints,
			summary: []string{"IPv4 ClusterIP 10.98.0.5 has no ready endpoint while its IPv6 ClusterIP fd00:10:96::5 has 3", "its A record"},
			fix:     []string{"if the Service need not answer over IPv4: its primary family cannot be changed in place; recreate it with ipFamilyPolicy: SingleStack and ipFamilies: [IPv6]"}},
		{name: "the EndpointSlice controller's slices, pods without an IPv6 address: the IPv6 slice is empty",
			mod: func(in *ServiceInput) {
				v6NotReady(in, endpointSliceController)
				in.Selector = map[string]string{"app": "web"}
				var eps []Endpoint
				for _, e := range in.Endpoints {
					if !is6(e.IP) {
						eps = append(eps, e)
					}
				}
				in.Endpoints = eps
				for i, nn := range dualNets {
					in.Backends = append(in.Backends, Backend{Pod: "web-" + nn.Name, Node: nn.Name, IP: ip4(i + 1), IPs: []string{ip4(i + 1)}, Ready: true, Declared: []string{"http:8080/TCP"}, TargetPort: 8080})
				}
			}, cause: CauseFamilyNoEndpoints,
			evidence: []string{"EndpointSlice web-v6 (IPv6, managed by endpointslice-controller.k8s.io): 0 of 0 endpoints ready",
				"pod web-nc-node1: status.podIPs 10.244.1.2: no IPv6 address"},
			fix: []string{"kubectl -n shop get endpointslices -l kubernetes.io/service-name=web -o wide"}},
		{name: "ip6tables FORWARD DROP on nc-node2: its IPv6 endpoints lost to and from it, IPv4 passes",
			mod: func(in *ServiceInput) { forwardDrop6(t, in, 2) }, cause: CauseForwardDrop, nodes: "nc-node2",
			summary: []string{"IPv6 FORWARD chain drops", "its pods lose the Service's IPv6 endpoints on other nodes and on this node",
				"and other nodes' pods lose the IPv6 endpoints on it; IPv4 passes"},
			evidence: []string{"pod@nc-node2 tcp endpoint [fd00:10:244:1::2]:8080: timeout (web-nc-node1 on nc-node1)",
				"pod@nc-node1 tcp endpoint [fd00:10:244:2::2]:8080: timeout (web-nc-node2 on nc-node2)",
				"pod@nc-node2 tcp endpoint 10.244.1.2:8080: ok (web-nc-node1 on nc-node1)",
				"node@nc-node2: filter FORWARD: policy DROP"},
			fix: []string{"ip6tables -I FORWARD -s fd00:10:244:2::/64 -j ACCEPT   # on nc-node2", "ip6tables -I FORWARD -d fd00:10:244:2::/64 -j ACCEPT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := svcDual(t)
			tt.mod(&in)
			fs := Service(in)
			if tt.cause == "" {
				if len(fs) != 0 {
					t.Fatalf("want no finding:\n%s", dump(fs))
				}
				return
			}
			if len(fs) != 1 || fs[0].Cause != tt.cause {
				t.Fatalf("want one %s:\n%s", tt.cause, dump(fs))
			}
			f := fs[0]
			if got := strings.Join(f.Nodes, ","); got != tt.nodes {
				t.Errorf("nodes %q, want %q", got, tt.nodes)
			}
			for _, want := range tt.summary {
				if !strings.Contains(f.Summary, want) {
					t.Errorf("summary %q lacks %q", f.Summary, want)
				}
			}
			for _, want := range tt.evidence {
				if !containsPrefix(f.Evidence, want) {
					t.Errorf("evidence lacks %q:\n%s", want, strings.Join(f.Evidence, "\n"))
				}
			}
			for _, want := range tt.fix {
				if !containsPrefix(f.Fix, want) {
					t.Errorf("fix lacks %q:\n%s", want, strings.Join(f.Fix, "\n"))
				}
			}
		})
	}
}

// containsPrefix: some line starts with want.
func containsPrefix(lines []string, want string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, want) {
			return true
		}
	}
	return false
}

// TestServiceForwardDropIPv4: the same verdict in IPv4 (the captured
// node's iptables, FORWARD policy DROP) names iptables, not ip6tables.
func TestServiceForwardDropIPv4(t *testing.T) {
	in := svcDual(t)
	n := node(&in, "nc-node3")
	for i := range n.Facts.Targets {
		if tf := &n.Facts.Targets[i]; !is6(tf.Addr) {
			tf.Forward = observe.Verdict{Result: observe.No, Datapath: "iptables-nft", Action: "policy DROP", Policy: true}
		}
	}
	for j := 1; j <= 2; j++ {
		setPod(&in, "nc-node3", SvcEndpointKey(ip4(j), 8080), observe.Timeout)
		setPod(&in, dualNets[j-1].Name, SvcEndpointKey(ip4(3), 8080), observe.Timeout)
	}
	fs := Service(in)
	if len(fs) != 1 || fs[0].Cause != CauseForwardDrop || strings.Join(fs[0].Nodes, ",") != "nc-node3" {
		t.Fatalf("want one forward-drop on nc-node3:\n%s", dump(fs))
	}
	if !containsPrefix(fs[0].Fix, "iptables -I FORWARD -s 10.244.3.0/24 -j ACCEPT   # on nc-node3") {
		t.Errorf("fix: %q", fs[0].Fix)
	}
	if !strings.Contains(fs[0].Summary, "IPv4 FORWARD chain") || !strings.Contains(fs[0].Summary, "its pods lose the Service's IPv4 endpoints on other nodes, and other nodes'") {
		t.Errorf("summary: %q", fs[0].Summary)
	}
}

// TestServiceFamilyMissing: RequireDualStack with a ClusterIP of one family.
func TestServiceFamilyMissing(t *testing.T) {
	in := svcInput()
	in.IPFamilyPolicy, in.IPFamilies, in.ClusterIPs = "RequireDualStack", []string{"IPv4"}, []string{"10.98.0.5"}
	fs := Service(in)
	if len(fs) != 1 || fs[0].Cause != CauseFamilyMissing || fs[0].Severity != Warning {
		t.Fatalf("want one %s warning:\n%s", CauseFamilyMissing, dump(fs))
	}
	if !containsPrefix(fs[0].Fix, `kubectl -n shop patch service web -p '{"spec":{"ipFamilyPolicy":"PreferDualStack"}}'`) ||
		!containsPrefix(fs[0].Evidence, "spec.ipFamilyPolicy=RequireDualStack, spec.ipFamilies=IPv4, spec.clusterIPs=10.98.0.5") {
		t.Errorf("fix %q, evidence %q", fs[0].Fix, fs[0].Evidence)
	}
	in.IPFamilyPolicy = "PreferDualStack"
	if fs := Service(in); len(fs) != 0 {
		t.Fatalf("PreferDualStack on a single-stack cluster is no fault:\n%s", dump(fs))
	}
}
