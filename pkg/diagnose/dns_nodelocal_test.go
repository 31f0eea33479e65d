package diagnose

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// labNodeLocalCorefile is the e2e lab's NodeLocal DNSCache Corefile
// (e2e/testdata/nodelocaldns.yaml), with the kube-dns ClusterIP bound as
// well, as node-local-dns binds it in kube-proxy's iptables mode.
const labNodeLocalCorefile = `cluster.local:53 {
    errors
    bind 10.96.0.10 169.254.20.10
    forward . 10.96.7.7 {
        force_tcp
    }
}
.:53 {
    errors
    bind 169.254.20.10 10.96.0.10
    forward . /etc/resolv.conf
}
`

func TestNodeLocalAddr(t *testing.T) {
	for _, tc := range []struct{ corefile, want string }{
		{labNodeLocalCorefile, "169.254.20.10"},
		{"cluster.local:53 {\n    bind 169.254.25.10\n}\n", "169.254.25.10"},
		{"cluster.local:53 {\n    bind fd00::10 10.96.0.10\n}\n", "fd00::10"},
		{"cluster.local:53 {\n    bind __PILLAR__LOCAL__DNS__\n}\n", NodeLocalDefaultAddr}, // not rendered: not an address
		{"", NodeLocalDefaultAddr},
	} {
		if got := NodeLocalAddr(tc.corefile, []string{dnsIP}); got != tc.want {
			t.Errorf("NodeLocalAddr(%q) = %q, want %q", tc.corefile, got, tc.want)
		}
	}
}

func TestDNSNodeLocal(t *testing.T) {
	const cache = "169.254.20.10"
	ok, fail := observe.OK, observe.DNSFailure
	pod := func(node string, ready bool) DNSServer {
		return DNSServer{Name: "node-local-dns-" + node, Node: node, IP: "198.18.0.1", Ready: ready}
	}
	nl := func(mod func(*NodeLocal)) *NodeLocal {
		n := &NodeLocal{Addr: cache, DaemonSet: "kube-system/node-local-dns", Pods: []DNSServer{pod("n1", true), pod("n2", true)},
			Corefile: Corefile{Source: "ConfigMap kube-system/node-local-dns", ConfigMap: "kube-system/node-local-dns", Text: labNodeLocalCorefile}}
		n.Upstream = n.Corefile.ForwardFor("kubernetes.default.svc.cluster.local")
		if mod != nil {
			mod(n)
		}
		return n
	}
	// withCache adds the cache's lookups: from the pod, from the node.
	withCache := func(podSide, nodeSide observe.Outcome, detail string) func(*observe.Node) {
		return func(n *observe.Node) {
			n.Pod.Checks = append(n.Pod.Checks, observe.Check{Kind: observe.DNS, ID: DNSCacheKey(cache), Outcome: podSide, Detail: detail})
			n.Host.Checks = append(n.Host.Checks, observe.Check{Kind: observe.DNS, ID: DNSCacheKey(cache), Outcome: nodeSide, Detail: detail})
		}
	}
	healthy := withCache(ok, ok, "")
	timeout := withCache(fail, fail, "no DNS server answered")
	servfail := withCache(fail, fail, "SERVFAIL")
	tests := []struct {
		name   string
		nl     *NodeLocal
		nodes  []observe.Node
		want   []Cause
		nodes1 []string
		text   []string // in the summary, the evidence or the fix
	}{
		{name: "healthy", nl: nl(nil), nodes: []observe.Node{dnsNode("n1", ok, ok, healthy), dnsNode("n2", ok, ok, healthy)}},
		{name: "no cache: nothing asked, nothing said", nl: nil, nodes: []observe.Node{dnsNode("n1", ok, ok, nil)}},
		{name: "address gone on one node, pod Ready: delete the pod", nl: nl(nil),
			nodes: []observe.Node{dnsNode("n1", ok, ok, healthy), dnsNode("n2", ok, ok, timeout)},
			want:  []Cause{CauseDNSNodeLocalDown}, nodes1: []string{"n2"},
			text: []string{"is Ready but nothing answers at 169.254.20.10", "node@n2 dns nodelocal 169.254.20.10: dns-failure (no DNS server answered)",
				"kubectl -n kube-system delete pod node-local-dns-n2   # the DaemonSet starts a new one"}},
		{name: "cache pod crash-looping", nl: nl(func(n *NodeLocal) {
			n.Pods[1].Ready, n.Pods[1].Reason, n.Pods[1].Restarts = false, "CrashLoopBackOff", 4
		}),
			nodes: []observe.Node{dnsNode("n2", ok, ok, timeout)}, want: []Cause{CauseDNSNodeLocalDown}, nodes1: []string{"n2"},
			text: []string{"not ready (CrashLoopBackOff), 4 restarts", "kubectl -n kube-system logs node-local-dns-n2 --previous"}},
		{name: "no cache pod on the node", nl: nl(func(n *NodeLocal) { n.Pods = n.Pods[:1] }),
			nodes: []observe.Node{dnsNode("n2", ok, ok, timeout)}, want: []Cause{CauseDNSNodeLocalDown}, nodes1: []string{"n2"},
			text: []string{"no NodeLocal DNSCache runs on this node", "describe daemonset node-local-dns   # does it select and tolerate n2?"}},
		{name: "the node gets answers, its pods do not: the path", nl: nl(nil),
			nodes: []observe.Node{dnsNode("n1", ok, ok, withCache(observe.Timeout, ok, ""))}, want: []Cause{CauseDNSNodeLocalPath}, nodes1: []string{"n1"},
			text: []string{"answers at 169.254.20.10 on this node itself but not its pods"}},
		{name: "the node's INPUT chain drops its pods' queries: the rule and its removal", nl: nl(nil),
			nodes: []observe.Node{dnsNode("n1", ok, ok, func(n *observe.Node) {
				withCache(observe.Timeout, ok, "")(n)
				n.Facts.Local = []observe.LocalFacts{{Target: NodeLocalKey, Addr: cache, Input: observe.Verdict{Result: observe.No, Action: "DROP", Datapath: "iptables",
					Rules: []string{"-A INPUT -s 10.244.1.0/24 -d 169.254.20.10/32 -p udp -m udp --dport 53 -j DROP"}}}}
			})}, want: []Cause{CauseDNSNodeLocalPath}, nodes1: []string{"n1"},
			text: []string{"the node's input hook drops its pods' queries to NodeLocal DNSCache at 169.254.20.10",
				"node@n1: filter INPUT: DROP: -A INPUT -s 10.244.1.0/24",
				"iptables -D INPUT -s 10.244.1.0/24 -d 169.254.20.10/32 -p udp -m udp --dport 53 -j DROP   # remove the rule that drops it"}},
		{name: "SERVFAIL from the cache, its upstream Service selects nothing: the selector patch", nl: nl(func(n *NodeLocal) {
			n.UpstreamService = &UpstreamService{Name: "kube-system/kube-dns-upstream", ClusterIP: "10.96.7.7", Selector: map[string]string{"k8s-app": "kube-dns-typo"}, Want: map[string]string{"k8s-app": "kube-dns"}}
		}), nodes: []observe.Node{dnsNode("n1", ok, ok, servfail), dnsNode("n2", ok, ok, servfail)},
			want: []Cause{CauseDNSNodeLocalUpstream}, nodes1: []string{"n1", "n2"},
			text: []string{"whose selector k8s-app=kube-dns-typo matches no DNS pod (cluster DNS's is k8s-app=kube-dns)",
				`Service kube-system/kube-dns-upstream (10.96.7.7) selects k8s-app=kube-dns-typo: 0 ready endpoints`,
				`the cluster.local block forwards with "forward . 10.96.7.7 {"`,
				`kubectl -n kube-system patch service kube-dns-upstream --type json -p '[{"op":"replace","path":"/spec/selector","value":{"k8s-app":"kube-dns"}}]'`}},
		{name: "SERVFAIL from the cache, no Service at its target: the ConfigMap", nl: nl(nil),
			nodes: []observe.Node{dnsNode("n1", ok, ok, servfail)}, want: []Cause{CauseDNSNodeLocalUpstream}, nodes1: []string{"n1"},
			text: []string{"the cache's upstream for the cluster's names, 10.96.7.7, fails it", "kubectl -n kube-system edit configmap node-local-dns"}},
		{name: "the DNS pods answer nobody on the node: their fault is named, not the cache's", nl: nl(nil),
			nodes: []observe.Node{dnsNode("n1", fail, fail, servfail), dnsNode("n2", ok, ok, healthy)}, want: []Cause{CauseDNSPodPath}, nodes1: []string{"n1"}},
		{name: "pods told to use the cache: no resolv-conf finding", nl: nl(nil),
			nodes: []observe.Node{dnsNode("n1", ok, ok, func(n *observe.Node) {
				healthy(n)
				n.Pod.Checks[0].Resolved, n.Pod.Checks[0].Detail = []string{cache}, "nameserver "+cache
			})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := DNS(DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Name: "kubernetes.default.svc.cluster.local",
				Servers: []DNSServer{coredns}, Nodes: tc.nodes, NodeLocal: tc.nl})
			var got []Cause
			for _, f := range fs {
				got = append(got, f.Cause)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("causes (-want +got):\n%s\n%+v", d, fs)
			}
			if len(fs) == 0 {
				return
			}
			if d := cmp.Diff(tc.nodes1, fs[0].Nodes); d != "" {
				t.Errorf("nodes (-want +got):\n%s", d)
			}
			all := strings.Join(append(append([]string{fs[0].Summary}, fs[0].Evidence...), fs[0].Fix...), "\n")
			for _, s := range tc.text {
				if !strings.Contains(all, s) {
					t.Errorf("no %q in:\n%s", s, all)
				}
			}
		})
	}
}

// Pods told to use a link-local nameserver where no cache was found (a
// Kubespray cache under another label, say): not a resolv-conf fault, and
// a note says it was not asked. Any other nameserver still is one.
func TestNodeLocalUnseen(t *testing.T) {
	resolv := func(ns string) func(*observe.Node) {
		return func(n *observe.Node) {
			n.Pod.Checks[0].Resolved, n.Pod.Checks[0].Detail = []string{ns}, "nameserver "+ns
		}
	}
	in := DNSInput{Service: "kube-system/kube-dns", ClusterIP: dnsIP, Name: "kubernetes.default.svc.cluster.local", Servers: []DNSServer{coredns},
		Nodes: []observe.Node{dnsNode("n1", observe.OK, observe.OK, resolv("169.254.25.10")), dnsNode("n2", observe.OK, observe.OK, nil)}}
	if fs := DNS(in); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
	note := NodeLocalUnseen(in)
	for _, want := range []string{"pods on n1 are told to use 169.254.25.10", "no cache pods were found", "it was not asked"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	in.Nodes[0] = dnsNode("n1", observe.OK, observe.OK, resolv("10.0.0.2"))
	if fs := DNS(in); len(fs) != 1 || fs[0].Cause != CauseResolvConf {
		t.Errorf("a routable nameserver that is not the cluster DNS: %+v", fs)
	}
	if note := NodeLocalUnseen(in); note != "" {
		t.Errorf("note %q", note)
	}
}
