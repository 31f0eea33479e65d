package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes only `netcheck node` names.
const (
	CauseBridgeNF      Cause = "bridge-nf-call-iptables"
	CauseConntrackFull Cause = "conntrack-full"
	CauseMTUMismatch   Cause = "mtu-mismatch"
	CauseMixedIptables Cause = "mixed-iptables-backends"
)

// SampleKey is the facts key of the representative outside flow `node`
// walks through the rules (TEST-NET-1: routed, never sent).
const SampleKey = "192.0.2.1"

// SampleKey6 is its IPv6 twin (the documentation prefix), judged on nodes
// with an IPv6 pod range.
const SampleKey6 = "2001:db8::1"

// Node diagnoses each node's own network settings, without a target: the
// settings every pod's traffic depends on.
func Node(nodes []observe.Node) []Finding {
	var out []Finding
	for _, n := range nodes {
		if n.Err != "" || n.Host.Err != "" {
			out = append(out, probeFailed(n.Name, n.Err, n.Host.Err))
			continue
		}
		out = append(out, nodeSettings(n)...)
		out = append(out, overlayFindings(n, false)...)
	}
	out = append(out, uplinkMTUs(nodes)...)
	return merge(out)
}

// mixedIptables: rules in both iptables backends. The kernel runs both,
// but each tool shows and changes only its own, so a component writing to
// the other backend is invisible to whoever debugs with iptables.
func mixedIptables(n observe.Node) *Finding {
	bs := n.Facts.IptablesBackends
	if len(bs) < 2 {
		return nil
	}
	f := Finding{Severity: Warning, Cause: CauseMixedIptables, Nodes: []string{n.Name},
		Summary: "iptables rules live in two backends (iptables-nft and iptables-legacy): the kernel runs both, but each iptables tool shows and changes only its own rules"}
	main := bs[0]
	for _, b := range bs {
		if b.KubeProxy {
			main = b
		}
		f.Evidence = append(f.Evidence, fmt.Sprintf("node@%s: %s: %s", n.Name, b.Tool, chainList(b.Chains)))
	}
	for _, b := range bs {
		if b.Tool == main.Tool {
			continue
		}
		tool := strings.TrimSuffix(strings.Fields(b.Tool)[0], "-save")
		f.Fix = append(f.Fix, fmt.Sprintf("%s-save > /root/%s.rules   # keep what it holds, then re-create what is still needed with %s",
			tool, tool, strings.TrimSuffix(strings.Fields(main.Tool)[0], "-save")))
		for _, c := range b.Chains {
			table, chain, _ := strings.Cut(c, "/")
			f.Fix = append(f.Fix, fmt.Sprintf("%s -t %s -F %s", tool, table, chain))
		}
	}
	f.Fix = append(f.Fix, "persist: run every component (kube-proxy, the CNI, Docker, the host firewall) with one iptables mode")
	return &f
}

// chainList names a backend's chains, kube-proxy's many KUBE-* ones counted
// apart so the others stay readable.
func chainList(chains []string) string {
	var own, kube []string
	for _, c := range chains {
		if _, name, _ := strings.Cut(c, "/"); strings.HasPrefix(name, "KUBE-") {
			kube = append(kube, c)
		} else {
			own = append(own, c)
		}
	}
	if len(kube) > 0 {
		own = append(own, fmt.Sprintf("kube-proxy's chains (%d, e.g. %s)", len(kube), kube[0]))
	}
	return strings.Join(own, ", ")
}

func nodeSettings(n observe.Node) []Finding {
	var out []Finding
	if f := mixedIptables(n); f != nil {
		out = append(out, *f)
	}
	f := n.Facts
	node := []string{n.Name}
	if fd, off := forwardingOff(n, false); off {
		out = append(out, fd)
	}
	if fd, off := forwardingOff(n, true); off && familyCIDR(f.PodCIDRs, true) != "" {
		out = append(out, fd)
	}
	switch {
	case f.BridgeNF == observe.No:
		out = append(out, Finding{Severity: Warning, Cause: CauseBridgeNF, Nodes: node,
			Summary:  "bridged pod traffic bypasses iptables: Services reached from a pod on the same bridge may not be DNATed, and FORWARD rules do not see it",
			Evidence: []string{"node@" + n.Name + ": net.bridge.bridge-nf-call-iptables = 0"},
			Fix:      []string{"sysctl -w net.bridge.bridge-nf-call-iptables=1", "echo 'net.bridge.bridge-nf-call-iptables = 1' > /etc/sysctl.d/99-kubernetes-bridge.conf   # persist"}})
	case f.BridgeNF == observe.Unknown && f.IPForward != observe.Unknown:
		out = append(out, Finding{Severity: Warning, Cause: CauseBridgeNF, Nodes: node,
			Summary:  "br_netfilter is not loaded (no net.bridge.bridge-nf-call-iptables): with a bridge CNI, bridged pod traffic bypasses iptables",
			Evidence: []string{"node@" + n.Name + ": /proc/sys/net/bridge/bridge-nf-call-iptables is absent"},
			Fix:      []string{"modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/br_netfilter.conf", "sysctl -w net.bridge.bridge-nf-call-iptables=1"}})
	}
	for _, key := range []string{SampleKey, SampleKey6} {
		v6 := key == SampleKey6
		podCIDR := familyCIDR(f.PodCIDRs, v6)
		if v6 && podCIDR == "" {
			continue // no IPv6 pod range: nothing of the node's pods goes out in IPv6
		}
		if podCIDR == "" {
			podCIDR = "<pod-cidr>"
		}
		sample := factsFor(n, key)
		if sample == nil || !f.RulesRead {
			continue
		}
		if sample.Forward.Result == observe.No {
			out = append(out, Finding{Severity: Error, Cause: CauseForwardDrop, Nodes: node,
				Summary:  "the FORWARD chain drops " + family(v6) + "traffic from this node's pods to the outside",
				Evidence: verdictEvidence(n.Name, "filter FORWARD (pod → "+key+")", sample.Forward),
				Fix:      forwardFix(sample.Forward, podCIDR)})
		}
		if sample.NAT.Result == observe.No && v6 && !ula(podCIDR) {
			// Global IPv6 pod addresses are routed, not masqueraded: the usual design.
			continue
		}
		if sample.NAT.Result == observe.No {
			out = append(out, Finding{Severity: Warning, Cause: CauseMissingNAT, Nodes: node,
				Summary:  "no masquerade rule covers this node's " + family(v6) + "pod CIDR leaving the cluster: fine if pod IPs are routable upstream, otherwise replies from outside never come back",
				Evidence: verdictEvidence(n.Name, "nat POSTROUTING (pod → "+key+")", sample.NAT),
				Fix: facts.FixerFor(sample.NAT.Datapath).Masquerade(facts.Masquerade{Src: podCIDR, Dst: podCIDR, NotDst: true,
					Out: orIf(sample.NodeRoute.Dev), V6: v6})})
		}
	}
	if f.ConntrackMax > 0 {
		ratio := float64(f.ConntrackCount) / float64(f.ConntrackMax)
		ev := []string{fmt.Sprintf("node@%s: nf_conntrack_count %d of nf_conntrack_max %d (%.0f%%)", n.Name, f.ConntrackCount, f.ConntrackMax, ratio*100)}
		fix := []string{fmt.Sprintf("sysctl -w net.netfilter.nf_conntrack_max=%d", f.ConntrackMax*2), "find the flood: conntrack -L | awk '{print $5}' | sort | uniq -c | sort -rn | head"}
		switch {
		case ratio >= 0.95:
			out = append(out, Finding{Severity: Error, Cause: CauseConntrackFull, Nodes: node,
				Summary: "the conntrack table is (nearly) full: once full, the kernel drops every new connection (dmesg: \"nf_conntrack: table full, dropping packet\")", Evidence: ev, Fix: fix})
		case ratio >= 0.8:
			out = append(out, Finding{Severity: Warning, Cause: CauseConntrackFull, Nodes: node,
				Summary: "the conntrack table is over 80% full: new connections will be dropped when it fills", Evidence: ev, Fix: fix})
		}
	}
	return append(out, podMTUFits(n)...)
}

func orIf(dev string) string {
	if dev == "" {
		return "<interface>"
	}
	return dev
}

// familyCIDR is the first of cidrs in the family ("" when none): a
// dual-stack node has an IPv4 and an IPv6 pod range.
func familyCIDR(cidrs []string, v6 bool) string {
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is6() == v6 {
			return p.String()
		}
	}
	return ""
}

// family is "IPv6 " for v6, "" for IPv4 (the usual case says nothing).
func family(v6 bool) string {
	if v6 {
		return "IPv6 "
	}
	return ""
}

// forwardingOff is the finding when the node does not forward a family:
// net.ipv4.ip_forward, or net.ipv6.conf.all.forwarding for IPv6.
func forwardingOff(n observe.Node, v6 bool) (Finding, bool) {
	setting, val := "net.ipv4.ip_forward", n.Facts.IPForward
	if v6 {
		setting, val = "net.ipv6.conf.all.forwarding", n.Facts.IP6Forward
	}
	if val != observe.No {
		return Finding{}, false
	}
	return Finding{Severity: Error, Cause: CauseIPForwardOff, Nodes: []string{n.Name},
		Summary:  map[bool]string{false: "IP", true: "IPv6"}[v6] + " forwarding is off: the node drops every " + family(v6) + "packet its pods send off the node",
		Evidence: []string{"node@" + n.Name + ": " + setting + " = 0"},
		Fix: []string{"sysctl -w " + setting + "=1",
			"echo '" + setting + " = 1' > /etc/sysctl.d/99-kubernetes-" + map[bool]string{false: "ipforward", true: "ip6forward"}[v6] + ".conf   # persist"}}, true
}

// ula: an IPv6 unique local range (fc00::/7), which no one routes back from
// outside: its pods need masquerade to leave the cluster.
func ula(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && netip.MustParsePrefix("fc00::/7").Contains(p.Addr())
}

// factsAddr is the address a target's facts were read for.
func factsAddr(tf observe.TargetFacts) string {
	if tf.Addr != "" {
		return tf.Addr
	}
	return tf.Target
}

// flowCIDR is the pod range of a flow's family: the one a fix for that
// flow names (a dual-stack node has one per family).
func flowCIDR(cidrs []string, tf observe.TargetFacts) string {
	return addrCIDR(cidrs, factsAddr(tf))
}

// addrCIDR is the node's pod range of addr's family, else all of them.
func addrCIDR(cidrs []string, addr string) string {
	if c := familyCIDR(cidrs, strings.Contains(addr, ":")); c != "" {
		return c
	}
	return strings.Join(cidrs, ",")
}
