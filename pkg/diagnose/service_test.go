package diagnose

import (
	"fmt"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The lab world: three nodes, one web pod on each, Service shop/web
// 10.98.0.5:80 → 8080, NodePort 30080.
var svcNets = []NodeNet{
	{Name: "n1", IP: "198.18.0.11", PodCIDRs: []string{"10.244.1.0/24"}},
	{Name: "n2", IP: "198.18.0.12", PodCIDRs: []string{"10.244.2.0/24"}},
	{Name: "n3", IP: "198.18.0.13", PodCIDRs: []string{"10.244.3.0/24"}},
}

const fqdn = "web.shop.svc.cluster.local"

func svcInput() ServiceInput {
	in := ServiceInput{Namespace: "shop", Name: "web", Type: "NodePort", ClusterIP: "10.98.0.5",
		Selector: map[string]string{"app": "web"},
		Port:     ServicePort{Name: "http", Protocol: "tcp", Port: 80, TargetPort: "8080", NodePort: 30080},
		Domain:   "cluster.local", NodeNets: svcNets}
	for i, nn := range svcNets {
		ip := fmt.Sprintf("10.244.%d.2", i+1)
		in.Backends = append(in.Backends, Backend{Pod: "web-" + nn.Name, Node: nn.Name, IP: ip, Ready: true, Declared: []string{"http:8080/TCP"}, TargetPort: 8080})
		in.Endpoints = append(in.Endpoints, Endpoint{IP: ip, Port: 8080, Node: nn.Name, Pod: "web-" + nn.Name, Ready: true})
	}
	for _, nn := range svcNets {
		n := observe.Node{Name: nn.Name, IP: nn.IP}
		n.Pod.Checks = []observe.Check{
			{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Detail: "nameserver 10.96.0.10; search default.svc.cluster.local svc.cluster.local cluster.local; options ndots:5", Resolved: []string{"10.96.0.10"}},
			{Kind: observe.DNS, ID: SvcDNSKey(fqdn), Outcome: observe.OK, Resolved: []string{"10.98.0.5"}},
			{Kind: observe.TCP, ID: SvcClusterIPKey("10.98.0.5", 80), Outcome: observe.OK},
		}
		for _, e := range in.Endpoints {
			n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.TCP, ID: SvcEndpointKey(e.IP, 8080), Outcome: observe.OK})
		}
		n.Host.Checks = []observe.Check{{Kind: observe.TCP, ID: SvcNodePortKey(nn.IP, 30080), Outcome: observe.OK}}
		for _, other := range svcNets {
			if other.Name == nn.Name {
				continue
			}
			key, _ := PodCIDRKey(other.PodCIDRs[0])
			n.Facts.Targets = append(n.Facts.Targets, observe.TargetFacts{Target: key, NodeRoute: observe.Route{
				Query: "ip route get " + key, Line: key + " via " + other.IP + " dev eth0", Via: other.IP, Dev: "eth0", Match: other.PodCIDRs[0]}})
		}
		n.Facts.KubeProxy = &observe.KubeProxy{Mode: "iptables", Processes: []string{"kube-proxy"}, ProcessesRead: true, Services: []observe.ServiceRules{
			{VIP: "10.98.0.5:80/tcp", Programmed: observe.Yes, Endpoints: 3, Rules: []string{"-A KUBE-SERVICES -d 10.98.0.5/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X"}},
			{VIP: "nodeport 30080/tcp", Programmed: observe.Yes, Endpoints: 3, Rules: []string{"-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -j KUBE-EXT-X"}}}}
		in.Nodes = append(in.Nodes, n)
	}
	return in
}

// ingressFromOther: web's pods admit namespace team=c only; the clients
// run in namespace client (team=b) as its curl workload.
func ingressFromOther(in *ServiceInput) Policies {
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(8080)
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "from-team-c", Namespace: "shop"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "c"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}}}}}
	p := Policies{Read: true, List: []networkingv1.NetworkPolicy{np}, Clients: map[string]netpol.Pod{}, Pods: map[string]netpol.Pod{}, AsWorkload: true}
	for _, n := range in.Nodes {
		p.Clients[n.Name] = netpol.Pod{Name: "curl-" + n.Name, Namespace: "client", Labels: map[string]string{"app": "curl"},
			NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "client", "team": "b"}}
	}
	for _, b := range in.Backends {
		p.Pods[b.IP] = netpol.Pod{Name: b.Pod, Namespace: "shop", Labels: map[string]string{"app": "web"},
			NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "shop", "team": "a"}}
	}
	return p
}

func setPod(in *ServiceInput, node string, key observe.CheckID, o observe.Outcome) {
	for i := range in.Nodes {
		if in.Nodes[i].Name != node {
			continue
		}
		for j := range in.Nodes[i].Pod.Checks {
			if in.Nodes[i].Pod.Checks[j].ID == key {
				in.Nodes[i].Pod.Checks[j].Outcome = o
				if o != observe.OK {
					in.Nodes[i].Pod.Checks[j].Resolved = nil
				}
			}
		}
		for j := range in.Nodes[i].Host.Checks {
			if in.Nodes[i].Host.Checks[j].ID == key {
				in.Nodes[i].Host.Checks[j].Outcome = o
			}
		}
	}
}

func node(in *ServiceInput, name string) *observe.Node {
	for i := range in.Nodes {
		if in.Nodes[i].Name == name {
			return &in.Nodes[i]
		}
	}
	panic(name)
}

func ep(i int) observe.CheckID { return SvcEndpointKey(fmt.Sprintf("10.244.%d.2", i), 8080) }

var cipKey = SvcClusterIPKey("10.98.0.5", 80)

func TestServiceDiagnosis(t *testing.T) {
	type want struct {
		cause    Cause
		severity Severity
		nodes    string // comma-joined, "" for cluster-wide
		text     string // in the summary, evidence or fix
	}
	tests := []struct {
		name  string
		edit  func(*ServiceInput)
		wants []want
	}{
		{"healthy", func(*ServiceInput) {}, nil},
		{"ExternalName is only an alias", func(in *ServiceInput) {
			in.Type, in.ExternalName = "ExternalName", "db.example.internal"
		}, []want{{CauseExternalName, Info, "", "kubectl netcheck external db.example.internal"}}},
		{"selector typo, with the labels that exist", func(in *ServiceInput) {
			in.Selector = map[string]string{"app": "wbe"}
			in.Backends, in.Endpoints, in.Nodes = nil, nil, nil
			in.Suggest, in.SuggestCount = map[string]string{"app": "web"}, 3
		}, []want{{CauseSelectorNoPods, Error, "", `patch service web -p '{"spec":{"selector":{"app":"web"}}}'`}}},
		{"no selector and no EndpointSlice", func(in *ServiceInput) {
			in.Selector, in.Backends, in.Endpoints, in.Nodes = nil, nil, nil, nil
		}, []want{{CauseNoSelector, Error, "", "kubernetes.io/service-name=web"}}},
		{"no pod ready", func(in *ServiceInput) {
			for i := range in.Backends {
				in.Backends[i].Ready, in.Backends[i].Reason = false, "CrashLoopBackOff"
				in.Endpoints[i].Ready = false
			}
			in.Nodes = nil
		}, []want{{CauseEndpointsNotReady, Error, "", "CrashLoopBackOff"}}},
		{"one pod not ready: a warning, the rest is checked", func(in *ServiceInput) {
			in.Backends[0].Ready = false
			in.Endpoints[0].Ready = false
		}, []want{{CauseEndpointsNotReady, Warning, "", "1 of 3 pods"}}},
		{"named targetPort no pod declares", func(in *ServiceInput) {
			in.Port.TargetPort = "web"
			for i := range in.Backends {
				in.Backends[i].TargetPort = 0
			}
			in.Endpoints, in.Nodes = nil, nil
		}, []want{{CauseTargetPortMismatch, Error, "", `"value":8080`}}},
		{"numeric targetPort the pods do not listen on", func(in *ServiceInput) {
			in.Port.TargetPort = "8081"
			for i := range in.Endpoints {
				in.Endpoints[i].Port = 8081
			}
			for i := range in.Nodes {
				for j := range in.Nodes[i].Pod.Checks {
					c := &in.Nodes[i].Pod.Checks[j]
					if c.ID.Role == observe.RoleEndpoint {
						c.ID.Port = 8081
						c.Outcome = observe.Refused
					}
				}
			}
			for _, n := range []string{"n1", "n2", "n3"} {
				setPod(in, n, cipKey, observe.Refused)
			}
		}, []want{{CauseTargetPortMismatch, Error, "", "nothing listens; the pods declare http:8080/TCP"}}},
		{"backend not listening on its declared port", func(in *ServiceInput) {
			for _, n := range []string{"n1", "n2", "n3"} {
				for i := 1; i <= 3; i++ {
					setPod(in, n, ep(i), observe.Refused)
				}
				setPod(in, n, cipKey, observe.Refused)
			}
		}, []want{{CauseBackendNotListening, Error, "", "web-n1, web-n2, web-n3"}}},
		{"endpoints that are not pods (the API server): named by address", func(in *ServiceInput) {
			for i := range in.Endpoints {
				in.Endpoints[i].Pod, in.Endpoints[i].Node = "", ""
			}
			for _, n := range []string{"n1", "n2", "n3"} {
				for i := 1; i <= 3; i++ {
					setPod(in, n, ep(i), observe.Refused)
				}
				setPod(in, n, cipKey, observe.Refused)
			}
		}, []want{{CauseBackendNotListening, Error, "", "nothing listens on port 8080 at 10.244.1.2, 10.244.2.2, 10.244.3.2"}}},
		{"kube-proxy stopped and its rules flushed on n1", func(in *ServiceInput) {
			setPod(in, "n1", cipKey, observe.Timeout)
			setPod(in, "n1", SvcDNSKey(fqdn), observe.DNSFailure)
			setPod(in, "n1", SvcNodePortKey("198.18.0.11", 30080), observe.Refused)
			kp := node(in, "n1").Facts.KubeProxy
			kp.Mode, kp.Processes = "none", nil
			for i := range kp.Services {
				kp.Services[i] = observe.ServiceRules{VIP: kp.Services[i].VIP, Programmed: observe.No, Endpoints: -1}
			}
		}, []want{{CauseKubeProxyDown, Error, "n1", "none of kube-proxy, cilium-agent"}}},
		{"kube-proxy runs but lacks this Service", func(in *ServiceInput) {
			setPod(in, "n2", cipKey, observe.Timeout)
			node(in, "n2").Facts.KubeProxy.Services[0] = observe.ServiceRules{VIP: "10.98.0.5:80/tcp", Programmed: observe.No, Endpoints: -1}
		}, []want{{CauseKubeProxyRules, Error, "n2", "has not synced this Service"}}},
		{"kube-proxy stale: rules say no endpoints", func(in *ServiceInput) {
			setPod(in, "n3", cipKey, observe.Refused)
			node(in, "n3").Facts.KubeProxy.Services[0] = observe.ServiceRules{VIP: "10.98.0.5:80/tcp", Programmed: observe.Yes, Rejects: true, Endpoints: 0, Rules: []string{"-A KUBE-SERVICES ... has no endpoints -j REJECT"}}
		}, []want{{CauseKubeProxyRules, Error, "n3", "is stale"}}},
		{"kube-proxy not running, its rules left behind and stale", func(in *ServiceInput) {
			setPod(in, "n2", cipKey, observe.Timeout)
			kp := node(in, "n2").Facts.KubeProxy
			kp.Processes = nil
			kp.Services[0] = observe.ServiceRules{VIP: "10.98.0.5:80/tcp", Programmed: observe.No, Endpoints: -1}
		}, []want{{CauseKubeProxyDown, Error, "n2", "rules it left are stale"}}},
		{"kube-proxy not running, its rules still serve", func(in *ServiceInput) {
			node(in, "n1").Facts.KubeProxy.Processes = nil
		}, []want{{CauseKubeProxyDown, Warning, "n1", "still serve 10.98.0.5:80/tcp, but they are stale"}}},
		{"ClusterIP fails, endpoints answer, rules present", func(in *ServiceInput) {
			setPod(in, "n3", cipKey, observe.Timeout)
		}, []want{{CauseServicePath, Error, "n3", "conntrack"}}},
		{"route to n2's podCIDR deleted on n1", func(in *ServiceInput) {
			setPod(in, "n1", ep(2), observe.Timeout)
			setPod(in, "n2", ep(1), observe.Timeout) // the replies are lost too
			tf := factsFor(*node(in, "n1"), "10.244.2.1")
			tf.NodeRoute = observe.Route{Query: "ip route get 10.244.2.1", Line: "10.244.2.1 via 198.18.0.254 dev eth0", Via: "198.18.0.254", Default: true}
		}, []want{{CauseMissingPodRoute, Error, "n1", "ip route add 10.244.2.0/24 via 198.18.0.12"}}},
		{"cross-node path broken without a route gap", func(in *ServiceInput) {
			setPod(in, "n1", ep(3), observe.Timeout)
		}, []want{{CauseCrossNode, Error, "n1", "VXLAN 8472/udp"}}},
		{"a NetworkPolicy drops everything at the backends", func(in *ServiceInput) {
			for _, n := range []string{"n1", "n2", "n3"} {
				for i := 1; i <= 3; i++ {
					setPod(in, n, ep(i), observe.Timeout)
				}
				setPod(in, n, cipKey, observe.Timeout)
			}
		}, []want{{CauseEndpointsSilent, Error, "", "ingress NetworkPolicy"}}},
		{"an ingress policy on the backends admits another namespace only: named, not 'unreachable'", func(in *ServiceInput) {
			for _, n := range []string{"n1", "n2", "n3"} {
				for i := 1; i <= 3; i++ {
					setPod(in, n, ep(i), observe.Timeout)
				}
				setPod(in, n, cipKey, observe.Timeout)
			}
			in.Policies = ingressFromOther(in)
		}, []want{{CauseNetworkPolicy, Error, "n1,n2,n3", "closest rule: shop/from-team-c ingress[0]: namespaceSelector {team=c} does not select namespace client"}}},
		{"the backends admit the clients' namespace, not the nodes: the NodePort's remote backends refuse it", func(in *ServiceInput) {
			in.Policies = ingressFromOther(in)
			in.Policies.List[0].Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels = map[string]string{"team": "b"}
			setPod(in, "n1", SvcNodePortKey("198.18.0.11", 30080), observe.Refused)
		}, []want{{CauseNetworkPolicy, Error, "n1,n2,n3", "they come from the node's own address"}}},
		{"the same policy, and the flows passed: not enforced", func(in *ServiceInput) {
			in.Policies = ingressFromOther(in)
		}, []want{{CausePolicyNotEnforced, Warning, "n1", "should block TCP/8080"}}},
		{"CoreDNS down: name fails everywhere, ClusterIP works", func(in *ServiceInput) {
			for _, n := range []string{"n1", "n2", "n3"} {
				setPod(in, n, SvcDNSKey(fqdn), observe.DNSFailure)
			}
		}, []want{{CauseServiceDNS, Error, "n1,n2,n3", "kubectl netcheck dns"}}},
		{"name resolves elsewhere", func(in *ServiceInput) {
			node(in, "n2").Pod.Checks[1].Resolved = []string{"10.98.0.99"}
		}, []want{{CauseServiceDNS, Error, "n2", "resolves to 10.98.0.99"}}},
		{"headless: the name resolves to the pods", func(in *ServiceInput) {
			in.ClusterIP = "None"
			for i := range in.Nodes {
				in.Nodes[i].Pod.Checks[1].Resolved = []string{"10.244.1.2", "10.244.2.2", "10.244.3.2"}
			}
		}, nil},
		{"headless: the name resolves elsewhere", func(in *ServiceInput) {
			in.ClusterIP = "None"
			for i := range in.Nodes {
				in.Nodes[i].Pod.Checks[1].Resolved = []string{"10.244.1.2", "10.244.2.2", "10.244.3.2"}
			}
			node(in, "n3").Pod.Checks[1].Resolved = []string{"10.244.9.9"}
		}, []want{{CauseServiceDNS, Error, "n3", "none of its ready endpoints"}}},
		{"another cluster domain: no DNS verdict", func(in *ServiceInput) {
			for _, n := range []string{"n1", "n2", "n3"} {
				node(in, n).Pod.Checks[0].Detail = "nameserver 10.96.0.10; search default.svc.corp.local svc.corp.local corp.local; options ndots:5"
				setPod(in, n, SvcDNSKey(fqdn), observe.DNSFailure)
			}
		}, []want{{CauseClusterDomain, Warning, "", "--cluster-domain corp.local"}}},
		{"NodePort dead on one node while the ClusterIP works", func(in *ServiceInput) {
			setPod(in, "n2", SvcNodePortKey("198.18.0.12", 30080), observe.Timeout)
		}, []want{{CauseNodePort, Error, "n2", "--nodeport-addresses"}}},
		{"hairpin off: the backend loses the connects that land on itself", func(in *ServiceInput) {
			in.Hairpin = []HairpinCheck{{Pod: "web-n1", Node: "n1", Check: observe.Check{Kind: observe.TCP, Outcome: observe.Timeout, Detail: "5/8 connects ok"}}}
			n := node(in, "n1")
			n.Facts.HairpinOff, n.Facts.BridgePorts = []string{"veth1"}, 3
		}, []want{{CauseHairpin, Error, "n1", "hairpin_mode is 0 on 1 of 3 bridge ports: veth1"}}},
		{"hairpin fine", func(in *ServiceInput) {
			in.Hairpin = []HairpinCheck{{Pod: "web-n1", Node: "n1", Check: observe.Check{Kind: observe.TCP, Outcome: observe.OK, Detail: "8/8 connects ok"}}}
		}, nil},
		{"hairpin fails but so does the node's Service path: no hairpin verdict", func(in *ServiceInput) {
			in.Hairpin = []HairpinCheck{{Pod: "web-n3", Node: "n3", Check: observe.Check{Kind: observe.TCP, Outcome: observe.Timeout, Detail: "0/8 connects ok"}}}
			setPod(in, "n3", cipKey, observe.Timeout)
		}, []want{{CauseServicePath, Error, "n3", "conntrack"}}},
		{"external IP not programmed on n2", func(in *ServiceInput) {
			in.ExternalIPs = []string{"198.18.0.200"}
			for i := range in.Nodes {
				n := &in.Nodes[i]
				o := observe.OK
				programmed := observe.Yes
				if n.Name == "n2" {
					o, programmed = observe.Timeout, observe.No
				}
				n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.TCP, ID: SvcExternalKey("198.18.0.200", 80), Outcome: o})
				n.Host.Checks = append(n.Host.Checks, observe.Check{Kind: observe.TCP, ID: SvcExternalKey("198.18.0.200", 80), Outcome: o})
				n.Facts.KubeProxy.Services = append(n.Facts.KubeProxy.Services, observe.ServiceRules{VIP: "198.18.0.200:80/tcp", Programmed: programmed, Endpoints: -1})
			}
		}, []want{{CauseExternalIP, Error, "n2", "no rule for 198.18.0.200:80/tcp"}}},
		{"external IP fails from the node only (the LB hairpin trap)", func(in *ServiceInput) {
			in.ExternalIPs = []string{"203.0.113.9"}
			for i := range in.Nodes {
				n := &in.Nodes[i]
				o := observe.OK
				if n.Name == "n3" {
					o = observe.Timeout
				}
				n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.TCP, ID: SvcExternalKey("203.0.113.9", 80), Outcome: observe.OK})
				n.Host.Checks = append(n.Host.Checks, observe.Check{Kind: observe.TCP, ID: SvcExternalKey("203.0.113.9", 80), Outcome: o})
			}
		}, []want{{CauseExternalIP, Error, "n3", "ipMode is Proxy"}}},
		{"cloud fabric: every podCIDR by the default route, all reachable", func(in *ServiceInput) {
			for i := range in.Nodes {
				for j := range in.Nodes[i].Facts.Targets {
					in.Nodes[i].Facts.Targets[j].NodeRoute.Default = true
				}
			}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := svcInput()
			tc.edit(&in)
			got := Service(in)
			if len(got) != len(tc.wants) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tc.wants), dump(got))
			}
			for i, w := range tc.wants {
				f := got[i]
				all := f.Summary + "\n" + strings.Join(f.Evidence, "\n") + "\n" + strings.Join(f.Fix, "\n") + "\n" + strings.Join(f.Candidates, "\n")
				if f.Cause != w.cause || f.Severity != w.severity || strings.Join(f.Nodes, ",") != w.nodes || !strings.Contains(all, w.text) {
					t.Errorf("finding %d: got %s/%s on %q, want %s/%s on %q containing %q:\n%s", i, f.Cause, f.Severity, strings.Join(f.Nodes, ","), w.cause, w.severity, w.nodes, w.text, dump(got))
				}
			}
		})
	}
}

func TestSuggestSelector(t *testing.T) {
	pods := []map[string]string{
		{"app": "web", "tier": "front", "pod-template-hash": "abc"},
		{"app": "web", "tier": "front", "pod-template-hash": "abc"},
		{"app": "worker", "tier": "back"},
	}
	tests := []struct {
		sel  map[string]string
		want string
		n    int
	}{
		{map[string]string{"app": "wbe"}, "app=web", 2},                            // swapped letters
		{map[string]string{"app": "web", "tier": "frnt"}, "app=web,tier=front", 2}, // one value off
		{map[string]string{"ap": "web"}, "app=web", 2},                             // the key misspelt
		{map[string]string{"app": "database"}, "", 0},                              // nothing close
		{map[string]string{"app": "worker", "tier": "front"}, "", 0},               // no single pod is close to both
	}
	for _, tc := range tests {
		got, n := SuggestSelector(tc.sel, pods)
		gs := ""
		if got != nil {
			gs = selectorString(got)
		}
		if gs != tc.want || n != tc.n {
			t.Errorf("SuggestSelector(%v) = %q (%d pods), want %q (%d)", tc.sel, gs, n, tc.want, tc.n)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"web", "web-admin", "worker", "db"}
	if got := strings.Join(Closest("wbe", names), ","); got != "web" {
		t.Errorf("Closest(wbe) = %q", got)
	}
	if got := strings.Join(Closest("web-admn", names), ","); got != "web-admin,web" {
		t.Errorf("Closest(web-admn) = %q", got)
	}
	if got := Closest("payments", names); len(got) != 0 {
		t.Errorf("Closest(payments) = %q, want none", got)
	}
}
