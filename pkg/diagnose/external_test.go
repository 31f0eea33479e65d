package diagnose

import (
	"net/netip"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// Observations below are shaped after what the lab cluster printed for
// each fault (see shared/e2e-cluster.md and pkg/facts/testdata).

const ext = "198.19.0.1"

func mustTarget(t *testing.T, s string) target.Target {
	t.Helper()
	tg, err := target.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func ping(key string, o observe.Outcome) observe.Check {
	return observe.Check{Kind: observe.Ping, ID: observe.TargetID(key), Outcome: o}
}

func tcp(key string, o observe.Outcome) observe.Check {
	return observe.Check{Kind: observe.TCP, ID: observe.TargetID(key), Outcome: o}
}

func dns(key string, o observe.Outcome, addrs ...string) observe.Check {
	return observe.Check{Kind: observe.DNS, ID: observe.TargetID(key), Outcome: o, Resolved: addrs}
}

var (
	natOK      = observe.Verdict{Result: observe.Yes, Action: "MASQUERADE", Rules: []string{"-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE"}}
	natMissing = observe.Verdict{Result: observe.No, Action: "no MASQUERADE/SNAT rule matches"}
	natUnknown = observe.Verdict{Result: observe.Unknown, Action: "no MASQUERADE/SNAT rule matches", Uncertain: []string{"-A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -j MASQUERADE   (cannot judge: set --match-set)"}}
	fwdOK      = observe.Verdict{Result: observe.Yes, Action: "policy ACCEPT"}
	fwdDrop    = observe.Verdict{Result: observe.No, Action: "policy DROP", Policy: true}
	// As facts.Nftables judges the firewalld-like table of facts/testdata.
	fwdNftDrop = observe.Verdict{Result: observe.No, Action: "drop", Datapath: "nftables", Hook: "nftables forward hook",
		Rules: []string{`table inet netcheck_fw chain filter_FORWARD_POLICIES handle 8: iifname "cni0" ip daddr @ext_nets counter drop comment "netcheck-e2e fault"`},
		Rule:  &observe.RuleRef{Family: "inet", Table: "netcheck_fw", Chain: "filter_FORWARD_POLICIES", Handle: 8}}
	fwdReject  = observe.Verdict{Result: observe.No, Action: "REJECT", Rules: []string{"-A FORWARD -s 10.244.0.0/16 -d 198.19.0.0/24 -j REJECT --reject-with icmp-port-unreachable"}}
	routeSpec  = observe.Route{Query: "ip route get 198.19.0.1", Line: "198.19.0.1 via 198.18.0.100 dev eth0  src 198.18.0.11", Via: "198.18.0.100", Dev: "eth0", Match: "198.19.0.0/24"}
	routeDflt  = observe.Route{Query: "ip route get 198.19.0.1", Line: "198.19.0.1 via 198.18.0.254 dev eth0  src 198.18.0.11", Via: "198.18.0.254", Dev: "eth0", Default: true}
	ctNoSNAT   = observe.ConntrackEntry{Raw: "icmp 1 29 src=10.244.0.2 dst=198.19.0.1 [UNREPLIED] src=198.19.0.1 dst=10.244.0.2", OrigSrc: "10.244.0.2", OrigDst: ext, ReplySrc: ext, ReplyDst: "10.244.0.2", Unreplied: true}
	ctSNATDead = observe.ConntrackEntry{Raw: "icmp 1 29 src=10.244.0.2 dst=198.19.0.1 [UNREPLIED] src=198.19.0.1 dst=198.18.0.11", OrigSrc: "10.244.0.2", OrigDst: ext, ReplySrc: ext, ReplyDst: "198.18.0.11", Unreplied: true}
)

type nodeSpec struct {
	name      string
	podOut    observe.Outcome
	nodeOut   observe.Outcome
	extra     []observe.Check // added to the pod side
	extraNode []observe.Check
	route     observe.Route
	nat       observe.Verdict
	fwd       observe.Verdict
	ct        []observe.ConntrackEntry
	ipfwd     observe.Tri
	key       string
}

func mkNode(s nodeSpec) observe.Node {
	key := s.key
	if key == "" {
		key = ext
	}
	if s.ipfwd == "" {
		s.ipfwd = observe.Yes
	}
	n := observe.Node{Name: s.name, IP: "198.18.0.11",
		Pod:  observe.SideResult{Pod: "p", IP: "10.244.0.2"},
		Host: observe.SideResult{Pod: "h", IP: "198.18.0.11"},
		Facts: observe.NodeFacts{PodCIDRs: []string{"10.244.0.0/24"}, IPForward: s.ipfwd, PodDev: "cni0",
			Targets: []observe.TargetFacts{{Target: key, NodeRoute: s.route, NAT: s.nat, Forward: s.fwd, Conntrack: s.ct, ConntrackRead: true}}}}
	if s.podOut != "" {
		n.Pod.Checks = append(n.Pod.Checks, ping(key, s.podOut))
	}
	if s.nodeOut != "" {
		n.Host.Checks = append(n.Host.Checks, ping(key, s.nodeOut))
	}
	n.Pod.Checks = append(n.Pod.Checks, s.extra...)
	n.Host.Checks = append(n.Host.Checks, s.extraNode...)
	return n
}

func healthy(name string) observe.Node {
	return mkNode(nodeSpec{name: name, podOut: observe.OK, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK})
}

// denyEgress: a default-deny egress policy in shop, and node n1's pod side
// running as shop's web pod (asWorkload) or as the pod probe in shop.
func denyEgress(asWorkload bool) Policies {
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-egress", Namespace: "shop"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
	client := netpol.Pod{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}}
	if !asWorkload {
		client = netpol.Pod{Name: ProbeClient, Namespace: "shop", Labels: map[string]string{"app.kubernetes.io/name": "kubectl-netcheck"}}
	}
	return Policies{Read: true, List: []networkingv1.NetworkPolicy{np}, Clients: map[string]netpol.Pod{"n1": client}, AsWorkload: asWorkload}
}

// clusterDeny: an Admin ClusterNetworkPolicy denying every pod's egress to
// 198.19.0.0/24, n1's pod side running as shop's web pod.
func clusterDeny() Policies {
	p := denyEgress(true)
	p.List = nil
	p.Cluster = []netpol.ClusterPolicy{{Kind: "ClusterNetworkPolicy", Name: "deny-ext", Tier: netpol.TierAdmin, Priority: 5,
		Subject: netpol.ClusterPeer{Namespaces: &metav1.LabelSelector{}},
		Egress:  []netpol.ClusterRule{{Name: "no-ext", Action: netpol.ActionDeny, Peers: []netpol.ClusterPeer{{Networks: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/24")}}}}}}}
	return p
}

// corpForward is the lab's Corefile for db.corp.example: the root's forward.
var corpForward = Forward{Source: "ConfigMap kube-system/coredns", ConfigMap: "kube-system/coredns", Zone: ".", Line: "forward . 198.19.0.1", Targets: []string{"198.19.0.1"}}

// privateZone is a node that resolves db.corp.example with its own resolver
// (198.19.0.53) while its pods do not, and whose ask of CoreDNS's forward
// target got upstream (an rcode or no answer).
func privateZone(upstream string) observe.Node {
	const key = "db.corp.example:5432"
	return mkNode(nodeSpec{name: "n1", key: key,
		extra: []observe.Check{dns(key, observe.DNSFailure), tcp(key, observe.DNSFailure)},
		extraNode: []observe.Check{dns(key, observe.OK, ext), tcp(key, observe.OK),
			{Kind: observe.ResolvConf, ID: DNSResolvKey, Outcome: observe.OK, Resolved: []string{"198.19.0.53"}, Detail: "nameserver 198.19.0.53"},
			{Kind: observe.DNS, ID: DNSUpstreamNameKey("198.19.0.1", "db.corp.example"), Outcome: observe.DNSFailure, Detail: upstream}},
		route: routeSpec, nat: natOK, fwd: fwdOK})
}

func TestExternal(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		nodes     []observe.Node
		cluster   observe.Cluster
		policies  Policies
		forward   *Forward // where CoreDNS forwards the target's name, where the command read it
		want      []Cause  // in order
		wantNodes [][]string
		severity  Severity
		fix       string // a substring of the first finding's fix
		evidence  string // a substring of the first finding's evidence
		candidate string // a substring of the first finding's candidates
		problems  bool
	}{
		{name: "healthy", target: ext, nodes: []observe.Node{healthy("n1"), healthy("n2")}, want: nil},
		{name: "missing masquerade on one node", target: "198.19.0.0/24",
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natMissing, fwd: fwdOK, ct: []observe.ConntrackEntry{ctNoSNAT}}), healthy("n2")},
			want:  []Cause{CauseMissingNAT}, wantNodes: [][]string{{"n1"}}, severity: Error, problems: true,
			fix:      "iptables -t nat -A POSTROUTING -s 10.244.0.0/24 -d 198.19.0.0/24 -o eth0 -j MASQUERADE",
			evidence: "(no SNAT)"},
		{name: "masquerade missing everywhere merges into one finding", target: ext,
			nodes: []observe.Node{
				mkNode(nodeSpec{name: "n2", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natMissing, fwd: fwdOK}),
				mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natMissing, fwd: fwdOK})},
			want: []Cause{CauseMissingNAT}, wantNodes: [][]string{{"n1", "n2"}}, severity: Error, problems: true},
		{name: "unjudgeable NAT rules, conntrack shows no SNAT", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natUnknown, fwd: fwdOK, ct: []observe.ConntrackEntry{ctNoSNAT}})},
			want:  []Cause{CauseMissingNAT}, severity: Error, problems: true, candidate: "witness"},
		{name: "unjudgeable NAT rules and no witness: ambiguous, candidates listed", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natUnknown, fwd: fwdOK})},
			want:  []Cause{CauseInconclusive}, severity: Error, problems: true, candidate: "could not judge"},
		{name: "a native nftables table drops the flow: forward-drop, fixed with nft", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdNftDrop})},
			want:  []Cause{CauseForwardDrop}, severity: Error, problems: true,
			fix:      "nft delete rule inet netcheck_fw filter_FORWARD_POLICIES handle 8",
			evidence: "nftables forward hook: drop: table inet netcheck_fw chain filter_FORWARD_POLICIES handle 8"},
		{name: "route, rules pass, no conntrack entry: dropped unseen, with what was read", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK})},
			want:  []Cause{CauseUnseenDrop}, severity: Error, problems: true, candidate: "eBPF", fix: "nft list ruleset"},
		{name: "NATed but unreplied: beyond the node", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK, ct: []observe.ConntrackEntry{ctSNATDead}})},
			want:  []Cause{CauseBeyondNode}, problems: true},
		{name: "FORWARD policy DROP", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdDrop}), healthy("n2")},
			want:  []Cause{CauseForwardDrop}, wantNodes: [][]string{{"n1"}}, severity: Error, problems: true,
			fix: "iptables -I FORWARD -s 10.244.0.0/24 -j ACCEPT", evidence: "no entry for the pod's flow"},
		{name: "FORWARD REJECT rule", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Unreachable, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdReject})},
			want:  []Cause{CauseForwardDrop}, problems: true,
			fix: "iptables -D FORWARD -s 10.244.0.0/16 -d 198.19.0.0/24 -j REJECT"},
		{name: "ip_forward off wins over NAT", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natMissing, fwd: fwdOK, ipfwd: observe.No})},
			want:  []Cause{CauseIPForwardOff}, problems: true, fix: "sysctl -w net.ipv4.ip_forward=1", evidence: "net.ipv4.ip_forward = 0"},
		{name: "route missing on one node", target: "198.19.0.0/24",
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeDflt, nat: natOK, fwd: fwdOK}), healthy("n2")},
			want:  []Cause{CauseMissingRoute}, wantNodes: [][]string{{"n1"}}, severity: Error, problems: true,
			fix: "ip route add 198.19.0.0/24 via 198.18.0.100 dev eth0", evidence: "the default route"},
		{name: "route missing for an address target: the fix takes the healthy nodes' route entry", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeDflt}), healthy("n2")},
			want:  []Cause{CauseMissingRoute}, problems: true, fix: "ip route add 198.19.0.0/24 via 198.18.0.100 dev eth0"},
		{name: "route unreachable on one node", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Unreachable, nodeOut: observe.Unreachable, route: observe.Route{Query: "ip route get 198.19.0.1", Err: "Network is unreachable"}}), healthy("n2")},
			want:  []Cause{CauseMissingRoute}, problems: true, evidence: "Network is unreachable"},
		{name: "route present, one node fails both sides: node-local", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeSpec, nat: natOK, fwd: fwdOK}), healthy("n2")},
			want:  []Cause{CauseNodeLocal}, problems: true},
		{name: "nobody reaches it: outside the cluster, a warning", target: ext,
			nodes: []observe.Node{
				mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeSpec, nat: natOK, fwd: fwdOK}),
				mkNode(nodeSpec{name: "n2", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeSpec, nat: natOK, fwd: fwdOK})},
			want: []Cause{CauseOutside}, wantNodes: [][]string{{"n1", "n2"}}, severity: Warning, problems: true},
		{name: "nobody reaches it and no node has a route", target: "198.19.0.0/24",
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeDflt})},
			want:  []Cause{CauseOutside}, candidate: "no node has a specific route", problems: true},
		{name: "ICMP filtered, TCP fine: not unreachable", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.Timeout, route: routeSpec, nat: natOK, fwd: fwdOK,
				extra: []observe.Check{tcp(ext, observe.OK)}, extraNode: []observe.Check{tcp(ext, observe.OK)}})},
			want: []Cause{CauseICMPBlocked}, severity: Info, problems: false},
		{name: "connection refused means the path works", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.OK, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK,
				extra: []observe.Check{tcp(ext, observe.Refused)}, extraNode: []observe.Check{tcp(ext, observe.Refused)}})},
			want: nil},
		{name: "target inside the pod CIDR", target: "10.244.3.0/24",
			nodes:   []observe.Node{mkNode(nodeSpec{name: "n1", key: "10.244.3.1", podOut: observe.OK, nodeOut: observe.OK})},
			cluster: observe.Cluster{PodCIDRs: []string{"10.244.0.0/24", "10.244.3.0/24"}, ServiceCIDRs: []string{"10.96.0.0/12"}},
			want:    []Cause{CauseCIDROverlap}, problems: true, evidence: "pod CIDR"},
		{name: "target inside the Service CIDR", target: "10.100.0.5",
			nodes:   []observe.Node{mkNode(nodeSpec{name: "n1", key: "10.100.0.5", podOut: observe.Timeout, nodeOut: observe.Timeout})},
			cluster: observe.Cluster{ServiceCIDRs: []string{"10.96.0.0/12"}},
			want:    []Cause{CauseCIDROverlap}, problems: true, evidence: "Service CIDR"},
		{name: "name resolves on the node, not in pods: DNS", target: "db.corp.example:5432",
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", key: "db.corp.example:5432",
				extra:     []observe.Check{dns("db.corp.example:5432", observe.DNSFailure), tcp("db.corp.example:5432", observe.DNSFailure)},
				extraNode: []observe.Check{dns("db.corp.example:5432", observe.OK, ext), tcp("db.corp.example:5432", observe.OK)},
				route:     routeSpec, nat: natOK, fwd: fwdOK})},
			want: []Cause{CauseDNS}, problems: true, fix: "coredns"},
		{name: "a private zone: the node's resolver knows it, CoreDNS's upstream says NXDOMAIN", target: "db.corp.example:5432",
			forward: &corpForward, nodes: []observe.Node{privateZone("NXDOMAIN")},
			want: []Cause{CauseDNSStubDomain}, problems: true, fix: "corp.example:53 {", evidence: "node@n1 dns upstream 198.19.0.1: dns-failure (NXDOMAIN)"},
		{name: "CoreDNS's upstream does not answer: DNS, not a stub domain", target: "db.corp.example:5432",
			forward: &corpForward, nodes: []observe.Node{privateZone("no DNS server answered")},
			want: []Cause{CauseDNS}, problems: true, fix: "coredns"},
		{name: "name resolves nowhere", target: "nope.corp.example",
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", key: "nope.corp.example",
				extra:     []observe.Check{dns("nope.corp.example", observe.DNSFailure), ping("nope.corp.example", observe.DNSFailure)},
				extraNode: []observe.Check{dns("nope.corp.example", observe.DNSFailure), ping("nope.corp.example", observe.DNSFailure)}})},
			want: []Cause{CauseNameUnresolved}, problems: true},
		{name: "default-deny egress on the workload (--from): the policy, its rule, the allowing policy", target: ext, policies: denyEgress(true),
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK})},
			want:  []Cause{CauseNetworkPolicy}, problems: true, evidence: "policies isolating the egress of pods app=web of namespace shop: shop/deny-egress"},
		{name: "an enforcer's FORWARD drop is the policy, not a host firewall", target: ext, policies: denyEgress(true),
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdReject})},
			want:  []Cause{CauseNetworkPolicy}, problems: true},
		{name: "the enforcer REJECTs: a refusal under a denying policy is the policy, not the target", target: ext, policies: denyEgress(true),
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK,
				extra: []observe.Check{tcp(ext, observe.Refused)}, extraNode: []observe.Check{tcp(ext, observe.OK)}})},
			want: []Cause{CauseNetworkPolicy}, problems: true},
		{name: "the probe's own namespace denies: said so, not blamed on the network", target: ext, policies: denyEgress(false),
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK})},
			want:  []Cause{CauseNetworkPolicy}, problems: true, evidence: "policies isolating the egress of the pod probe in namespace shop"},
		{name: "denied by the policies, passed anyway: not enforced", target: ext, policies: denyEgress(true),
			nodes: []observe.Node{healthy("n1")},
			want:  []Cause{CausePolicyNotEnforced}, problems: true},
		{name: "an Admin ClusterNetworkPolicy denies: named with its rule, the patch inserts an accept before it", target: ext, policies: clusterDeny(),
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, nodeOut: observe.OK, route: routeSpec, nat: natOK, fwd: fwdOK})},
			want:  []Cause{CauseNetworkPolicy}, problems: true, evidence: `deciding rule: ClusterNetworkPolicy/deny-ext (tier Admin, priority 5) rule 0 "no-ext": Deny`,
			fix: `kubectl patch clusternetworkpolicy deny-ext --type=json -p '[{"op":"add","path":"/spec/egress/0"`},
		{name: "--from-ephemeral without a node side: a refusal under a denying policy is the policy", target: ext, policies: denyEgress(true),
			nodes: []observe.Node{func() observe.Node {
				n := mkNode(nodeSpec{name: "n1", podOut: observe.Timeout, extra: []observe.Check{tcp(ext, observe.Refused)}})
				n.Host = observe.SideResult{Err: "not run (PodSecurity: baseline)"}
				return n
			}()},
			want: []Cause{CauseNetworkPolicy}, problems: true},
		{name: "denied by a ClusterNetworkPolicy, passed anyway: not enforced, naming it", target: ext, policies: clusterDeny(),
			nodes: []observe.Node{healthy("n1")},
			want:  []Cause{CausePolicyNotEnforced}, problems: true, evidence: "deciding rule: ClusterNetworkPolicy/deny-ext"},
		{name: "node side only fails", target: ext,
			nodes: []observe.Node{mkNode(nodeSpec{name: "n1", podOut: observe.OK, nodeOut: observe.Timeout, route: routeSpec, nat: natOK, fwd: fwdOK}), healthy("n2")},
			want:  []Cause{CauseNodeOnlyFails}, severity: Warning, problems: true},
		{name: "a node that could not be probed", target: ext,
			nodes: []observe.Node{{Name: "n3", Err: `node n3 cannot pull image "busybox:1.36"`}, healthy("n1")},
			want:  []Cause{CauseProbeFailed}, wantNodes: [][]string{{"n3"}}, problems: true, evidence: "cannot pull"},
		{name: "node side refused by admission, pods fine: healthy", target: ext,
			nodes: []observe.Node{func() observe.Node {
				n := mkNode(nodeSpec{name: "n1", podOut: observe.OK})
				n.Host = observe.SideResult{Err: "not run (PodSecurity: baseline)"}
				return n
			}()},
			want: nil},
		{name: "node side refused by admission, pods fail: inconclusive, not a verdict", target: ext,
			nodes: []observe.Node{func() observe.Node {
				n := mkNode(nodeSpec{name: "n1", podOut: observe.Timeout})
				n.Host = observe.SideResult{Err: "not run (PodSecurity: baseline)"}
				return n
			}()},
			want: []Cause{CauseInconclusive}, problems: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ExternalInput{Targets: []target.Target{mustTarget(t, tt.target)}, Nodes: tt.nodes, Cluster: tt.cluster, Policies: tt.policies}
			if tt.forward != nil {
				in.Forwards = map[string]Forward{in.Targets[0].Host: *tt.forward}
			}
			fs := External(in)
			var got []Cause
			for _, f := range fs {
				got = append(got, f.Cause)
			}
			if strings.Join(causes(got), ",") != strings.Join(causes(tt.want), ",") {
				t.Fatalf("causes = %v, want %v\n%s", got, tt.want, dump(fs))
			}
			if HasProblems(fs) != tt.problems {
				t.Errorf("HasProblems = %v, want %v", HasProblems(fs), tt.problems)
			}
			for i, wn := range tt.wantNodes {
				if strings.Join(fs[i].Nodes, ",") != strings.Join(wn, ",") {
					t.Errorf("finding %d nodes = %v, want %v", i, fs[i].Nodes, wn)
				}
			}
			if len(fs) == 0 {
				return
			}
			f := fs[0]
			if tt.severity != "" && f.Severity != tt.severity {
				t.Errorf("severity = %s, want %s", f.Severity, tt.severity)
			}
			if tt.fix != "" && !strings.Contains(strings.ToLower(strings.Join(f.Fix, "\n")), strings.ToLower(tt.fix)) {
				t.Errorf("fix %q does not contain %q", f.Fix, tt.fix)
			}
			if tt.evidence != "" && !strings.Contains(strings.Join(f.Evidence, "\n"), tt.evidence) {
				t.Errorf("evidence %q does not contain %q", f.Evidence, tt.evidence)
			}
			if tt.candidate != "" && !strings.Contains(strings.Join(f.Candidates, "\n"), tt.candidate) {
				t.Errorf("candidates %q do not contain %q", f.Candidates, tt.candidate)
			}
			if f.Summary == "" {
				t.Errorf("finding without a summary")
			}
		})
	}
}

func causes(cs []Cause) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c))
	}
	return out
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(string(f.Severity) + " " + string(f.Cause) + " " + strings.Join(f.Nodes, ",") + ": " + f.Summary + "\n")
		for _, e := range f.Evidence {
			b.WriteString("   " + e + "\n")
		}
	}
	return b.String()
}

// Path MTU to an external target: the pod side short of the node side names
// the pod network's MTU; both short, the path beyond the node.
func TestExternalMTU(t *testing.T) {
	tgt := mustTarget(t, ext)
	mtu := func(o observe.Outcome, largest, told int) observe.Check {
		p := observe.PathMTU{Dev: "eth0", Local: 1500, Largest: largest, Told: told, Probes: 6, Tool: "busybox"}
		if largest < 1500 {
			p.Failed = largest + 1
		}
		return observe.Check{Kind: observe.MTUProbe, ID: TargetMTUKey(tgt), Outcome: o, PathMTU: &p}
	}
	for _, tt := range []struct {
		name      string
		pod, node observe.Check
		sev       Severity
		text      string
	}{
		{"pods short, node whole", mtu(observe.Timeout, 1400, 0), mtu(observe.OK, 1500, 0), Error,
			"set the pod network's MTU to at most 1400"},
		{"both short, a router says so", mtu(observe.Timeout, 1400, 1400), mtu(observe.Timeout, 1400, 1400), Warning,
			"raise the MTU of the link or tunnel toward 198.19.0.1 to 1500"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := healthy("n1")
			n.Pod.Checks = append(n.Pod.Checks, tt.pod)
			n.Host.Checks = append(n.Host.Checks, tt.node)
			fs := External(ExternalInput{Targets: []target.Target{tgt}, Nodes: []observe.Node{n, healthy("n2")}})
			if len(fs) != 1 || fs[0].Cause != CauseMTUPath || fs[0].Severity != tt.sev || strings.Join(fs[0].Nodes, ",") != "n1" {
				t.Fatalf("want one %s %s on n1:\n%s", tt.sev, CauseMTUPath, dump(fs))
			}
			if !strings.Contains(strings.Join(fs[0].Fix, "\n"), tt.text) {
				t.Fatalf("fix %q lacks %q", fs[0].Fix, tt.text)
			}
		})
	}
	// Whole paths, or a target that answers no probe at all: nothing to say.
	n := healthy("n1")
	n.Pod.Checks = append(n.Pod.Checks, mtu(observe.OK, 1500, 0), observe.Check{Kind: observe.MTUProbe, ID: TargetMTUKey(tgt), Outcome: observe.Error, PathMTU: &observe.PathMTU{}})
	if fs := External(ExternalInput{Targets: []target.Target{tgt}, Nodes: []observe.Node{n}}); len(fs) != 0 {
		t.Fatalf("want none:\n%s", dump(fs))
	}
}
