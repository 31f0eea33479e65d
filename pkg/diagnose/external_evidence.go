package diagnose

// Evidence and fixes of the external diagnosis: verdicts quoted, conntrack
// read, the fix written in the tool of the datapath that decided.

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

func routeEvidence(node string, r observe.Route) string {
	if r.Err != "" {
		return fmt.Sprintf("node@%s: %s → %s", node, r.Query, r.Err)
	}
	s := fmt.Sprintf("node@%s: %s → %s", node, r.Query, r.Line)
	if r.Default {
		s += " (the default route: no specific route)"
	}
	return s
}

// verdictEvidence quotes a verdict under chain, iptables' name for the
// hook, or the name the judging datapath gave it.
// unseenDrop: a route, rules that pass the flow, and yet no conntrack
// entry was ever confirmed for it: the packet died in the node's forward
// path, by something the rules read do not show. Say what was read.
func unseenDrop(fd Finding, n observe.Node, f *observe.TargetFacts, podIP string) Finding {
	fd.Cause = CauseUnseenDrop
	fd.Summary = "the pod's packets die in the node's forward path: no conntrack entry was confirmed for the flow, yet no rule read on the node drops it"
	fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "filter FORWARD", f.Forward)...)
	fd.Evidence = append(fd.Evidence, conntrackEvidence(n.Name, f, podIP, "no entry for the pod's flow: dropped before conntrack confirmed it, in the forwarding path")...)
	fd.Evidence = append(fd.Evidence, fmt.Sprintf("node@%s: read: %s", n.Name, strings.Join(n.Facts.Tools, ", ")))
	for _, note := range n.Facts.Notes {
		fd.Evidence = append(fd.Evidence, fmt.Sprintf("node@%s: not read: %s", n.Name, note))
	}
	dev := orIf(n.Facts.PodDev)
	fd.Candidates = []string{"a firewall the tools above do not show (an nftables table when nft could not be read, an eBPF/tc program)",
		"the CNI's own policy engine (Calico/Cilium policies compiled to eBPF or their own chains)", "an egress NetworkPolicy enforced by the CNI"}
	fd.Fix = []string{"nft list ruleset   # on " + n.Name + ": every table, including those iptables does not show",
		"tc filter show dev " + dev + " ingress; bpftool net   # eBPF and tc programs on the pod's interface"}
	return fd
}

func verdictEvidence(node, chain string, v observe.Verdict) []string {
	if v.Hook != "" {
		chain = v.Hook + strings.TrimPrefix(strings.TrimPrefix(chain, "filter FORWARD"), "nat POSTROUTING")
	}
	var out []string
	switch {
	case v.Result == "":
		return nil
	case len(v.Rules) == 0:
		out = append(out, fmt.Sprintf("node@%s: %s: %s", node, chain, v.Action))
	default:
		for _, r := range v.Rules {
			out = append(out, fmt.Sprintf("node@%s: %s: %s: %s", node, chain, v.Action, r))
		}
	}
	for _, u := range v.Uncertain {
		out = append(out, fmt.Sprintf("node@%s: %s: could not judge: %s", node, chain, u))
	}
	return out
}

func conntrackEvidence(node string, f *observe.TargetFacts, podIP, whenNone string) []string {
	if !f.ConntrackRead {
		return []string{fmt.Sprintf("node@%s: conntrack table not readable: no flow witness", node)}
	}
	if len(f.Conntrack) == 0 {
		if whenNone == "" {
			whenNone = "no entry for the pod's flow"
		}
		return []string{fmt.Sprintf("node@%s: conntrack: %s", node, whenNone)}
	}
	var out []string
	for _, e := range f.Conntrack {
		note := "reply addressed to the node (SNAT applied)"
		if !e.Natted() {
			note = "reply addressed to the pod IP " + podIP + " (no SNAT)"
		}
		if e.Unreplied {
			note += ", no reply seen"
		}
		out = append(out, fmt.Sprintf("node@%s: conntrack: %s   ← %s", node, e.Raw, note))
	}
	return out
}

func cidrOf(t target.Target) string {
	if t.Kind == target.KindCIDR {
		return t.Prefix.String()
	}
	if t.Addr.IsValid() {
		return netip.PrefixFrom(t.Addr, t.Addr.BitLen()).String()
	}
	return t.Host
}

func natFix(t target.Target, dst netip.Addr, podCIDR string, f *observe.TargetFacts, n observe.Node) []string {
	src := podCIDR
	if src == "" {
		src = "<pod-cidr>"
	}
	to := cidrOf(t)
	if !t.Addr.IsValid() && dst.IsValid() {
		to = netip.PrefixFrom(dst, dst.BitLen()).String() // a name: the address it resolved to
	}
	fix := facts.FixerFor(f.NAT.Datapath).Masquerade(facts.Masquerade{Src: src, Dst: to, Out: orIf(f.NodeRoute.Dev), V6: dst.Is6()})
	switch {
	case dst.Is6():
		fix = append(fix, fmt.Sprintf("or, on the router in front of %s: ip -6 route add %s via <%s's IPv6 address>   # lets replies reach pod IPs without NAT", to, src, n.Name))
	case n.IP != "":
		fix = append(fix, fmt.Sprintf("or, on the router in front of %s: ip route add %s via %s   # lets replies reach pod IPs without NAT", to, src, n.IP))
	}
	if o := n.Facts.Overlay; o != nil && o.LeaseRead && o.Lease["FLANNEL_IPMASQ"] == "false" {
		// flannel runs the pod network here and was told not to masquerade.
		return append(fix, "persist: flannel masquerades pod traffic itself when started with --ip-masq, and this node's lease says FLANNEL_IPMASQ=false: "+
			"add --ip-masq to flanneld (kube-flannel: kubectl -n kube-flannel edit daemonset kube-flannel-ds; K3s: drop --flannel-ipmasq=false) and restart it")
	}
	fix = append(fix, "persist: enable masquerade in the CNI (flannel --ip-masq, Calico natOutgoing: true, ip-masq-agent nonMasqueradeCIDRs) or run the rule from a privileged hostNetwork DaemonSet")
	return fix
}

// forwardFix lets the pods' traffic through what dropped it, in the
// dropping datapath's own tool.
func forwardFix(v observe.Verdict, podCIDR string) []string {
	if podCIDR == "" {
		podCIDR = "<pod-cidr>"
	}
	return facts.FixerFor(v.Datapath).AllowForward(v, podCIDR, false)
}

// overlap flags a target inside the pod or Service network: pods would
// send it to another pod or a ClusterIP, never off the cluster.
func overlap(t target.Target, c observe.Cluster) []Finding {
	var tp netip.Prefix
	switch {
	case t.Kind == target.KindCIDR:
		tp = t.Prefix
	case t.Addr.IsValid():
		tp = netip.PrefixFrom(t.Addr, t.Addr.BitLen())
	default:
		return nil
	}
	check := func(list []string, what string) []Finding {
		var out []Finding
		for _, s := range list {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Overlaps(tp) {
				continue
			}
			out = append(out, Finding{Severity: Error, Cause: CauseCIDROverlap, Target: Key(t),
				Summary:  fmt.Sprintf("%s overlaps the cluster's %s %s: pods send this traffic into the cluster network, never off the node", tp, what, p),
				Evidence: []string{fmt.Sprintf("%s ∩ %s (%s)", tp, p, what)},
				Fix: []string{"renumber the external network, or choose non-overlapping pod/Service CIDRs for the cluster",
					"a route or NAT rule on the nodes cannot fix an overlap"}})
		}
		return out
	}
	return append(check(c.PodCIDRs, "pod CIDR"), check(c.ServiceCIDRs, "Service CIDR")...)
}
