package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// CauseMTUPath is a path between pods that carries less than the pod
// network's MTU: measured with the don't-fragment bit set.
const CauseMTUPath Cause = "mtu"

// uplink is the interface a node reaches other nodes' pods through, from
// its routes to their podCIDRs, with its MTU.
func uplink(n observe.Node) (string, int) {
	// Through an overlay the encapsulated packets leave by the device it sends from.
	if o := n.Facts.Overlay; o != nil && o.Dev != "" {
		return o.Dev, n.Facts.MTUs[o.Dev]
	}
	for _, tf := range n.Facts.Targets {
		// The node's own podCIDR routes to the pod bridge, its gateway address to lo.
		if d := tf.NodeRoute.Dev; d != "" && d != n.Facts.PodDev && d != "lo" {
			return d, n.Facts.MTUs[d]
		}
	}
	return "", 0
}

// carried is the largest pod packet a node's uplink carries: its MTU less
// the overlay's headers. dev names the limit ("eth0 1500 less VXLAN's 50").
func carried(n observe.Node) (limit int, dev string) {
	d, up := uplink(n)
	if up == 0 {
		return 0, ""
	}
	if o := n.Facts.Overlay; o != nil && o.Overhead > 0 {
		return up - o.Overhead, fmt.Sprintf("uplink %s MTU %d less %s's %d bytes of headers", d, up, o.Name, o.Overhead)
	}
	return up, fmt.Sprintf("uplink %s MTU %d", d, up)
}

// uplinkMTUs: a node whose uplink MTU is below the other nodes' drops
// their full-size packets silently — from the facts alone, no probe.
func uplinkMTUs(nodes []observe.Node) []Finding {
	top := 0
	for _, n := range nodes {
		if _, mtu := uplink(n); mtu > top {
			top = mtu
		}
	}
	var out []Finding
	for _, n := range nodes {
		dev, mtu := uplink(n)
		if mtu == 0 || mtu >= top {
			continue
		}
		out = append(out, Finding{Severity: Warning, Cause: CauseMTUMismatch, Nodes: []string{n.Name},
			Summary:  fmt.Sprintf("this node's uplink MTU (%d) is below the other nodes' (%d): full-size packets from them die on it, small ones pass (TLS handshakes and large transfers hang)", mtu, top),
			Evidence: []string{fmt.Sprintf("node@%s: uplink %s MTU %d; the largest among the nodes: %d", n.Name, dev, mtu, top)},
			Fix:      []string{fmt.Sprintf("ip link set dev %s mtu %d   # on %s, if its network carries %d; else lower the other nodes' and the pod network's MTU", facts.ShellQuote(dev), top, n.Name, top)}})
	}
	return out
}

// podMTUFits: the pod network's MTU, and an overlay device's, must fit in
// what the uplink carries once the overlay's headers are added. Larger,
// and big packets from pods are dropped or fragmented.
func podMTUFits(n observe.Node) []Finding {
	var out []Finding
	limit, why := carried(n)
	o := n.Facts.Overlay
	if o != nil && o.Overhead > 0 && limit > 0 {
		if mtu := overlayMTU(o, n.Facts.MTUs); mtu > limit {
			out = append(out, Finding{Severity: Warning, Cause: CauseMTUMismatch, Nodes: []string{n.Name},
				Summary: fmt.Sprintf("the overlay device %s has MTU %d, more than the uplink carries once %s's headers are added (%d): pod packets over %d are dropped or fragmented between nodes",
					o.Link, mtu, o.Name, limit, limit),
				Evidence: []string{fmt.Sprintf("node@%s: %s MTU %d; %s", n.Name, o.Link, mtu, why)},
				Fix:      overlayMTUFix(n, o, limit)})
		}
	}
	pod := n.Facts.MTUs[n.Facts.PodDev]
	if o != nil && o.Overhead > 0 {
		// Pods' packets go into the overlay device: it is the limit they meet first.
		if mtu := overlayMTU(o, n.Facts.MTUs); mtu > 0 && mtu < limit {
			limit, why = mtu, fmt.Sprintf("%s MTU %d", o.Link, mtu)
		}
	}
	if n.Facts.PodDev != "" && pod > 0 && limit > 0 && pod > limit {
		out = append(out, Finding{Severity: Warning, Cause: CauseMTUMismatch, Nodes: []string{n.Name},
			Summary:  fmt.Sprintf("the pod network's MTU (%s %d) is larger than the node carries (%d: %s): large packets from pods are dropped or fragmented", n.Facts.PodDev, pod, limit, why),
			Evidence: []string{fmt.Sprintf("node@%s: %s MTU %d; %s", n.Name, n.Facts.PodDev, pod, why)},
			Fix:      []string{fmt.Sprintf("set the CNI's MTU to at most %d on %s (pods started before keep their MTU until restarted)", limit, n.Name)}})
	}
	return out
}

// overlayMTU is the overlay device's MTU, from its details or its link.
func overlayMTU(o *observe.Overlay, links map[string]int) int {
	if o.MTU > 0 {
		return o.MTU
	}
	return links[o.Link]
}

// overlayMTUFix sets the overlay device back to what the uplink carries;
// flannel writes the device's MTU into subnet.env at its start, and the
// CNI plugin gives new pods that MTU.
func overlayMTUFix(n observe.Node, o *observe.Overlay, limit int) []string {
	fix := []string{fmt.Sprintf("ip link set dev %s mtu %d   # on %s", facts.ShellQuote(o.Link), limit, n.Name)}
	if o.CNI == observe.CNIFlannel {
		fix = append(fix, "then restart flanneld on "+n.Name+" (k3s: systemctl restart k3s-agent) so /run/flannel/subnet.env says FLANNEL_MTU="+fmt.Sprint(limit)+", and restart the pods started since; check the uplink flanneld chose (--iface) and the CNI config's \"mtu\"")
	} else {
		fix = append(fix, "and set the CNI's MTU setting to at most "+fmt.Sprint(limit)+" so it stays after a restart")
	}
	return fix
}

// mtuBetweenNodes: pods on nodes whose pod interfaces have different MTUs
// lose the large packets between them (small pings pass, transfers hang).
func mtuBetweenNodes(nodes []observe.Node) *Finding {
	byMTU := map[int][]string{}
	for _, n := range nodes {
		if mtu := n.Facts.MTUs[n.Facts.PodDev]; mtu > 0 {
			byMTU[mtu] = append(byMTU[mtu], n.Name)
		}
	}
	if len(byMTU) < 2 {
		return nil
	}
	var mtus []int
	for m := range byMTU {
		mtus = append(mtus, m)
	}
	sort.Ints(mtus)
	var ev []string
	for _, m := range mtus {
		ev = append(ev, fmt.Sprintf("pod interface MTU %d on %s", m, strings.Join(byMTU[m], ", ")))
	}
	return &Finding{Severity: Warning, Cause: CauseMTUMismatch, Nodes: byMTU[mtus[len(mtus)-1]],
		Summary:  fmt.Sprintf("the pod network's MTU differs between nodes (%d vs %d): large packets between them are dropped while pings and small requests pass", mtus[0], mtus[len(mtus)-1]),
		Evidence: ev,
		Fix:      []string{fmt.Sprintf("set one MTU for the pod network in the CNI's configuration (at most %d, less the overlay's header), then restart the CNI agent on the listed nodes", mtus[0])}}
}

// mtuPaths: pairs that reach each other with small packets but carry less
// than the sender's pod interface MTU with DF set. The node in every such
// pair is named, with what its facts say: an uplink below the others', an
// overlay device above what its uplink carries, a pod MTU above the path's.
// Silent loss (no router said "fragmentation needed", and a fragmented
// packet of full size is lost too) is an error: TCP cannot find the path
// MTU; a path MTU a router announced is a warning.
func mtuPaths(nodes []observe.Node, reach map[[2]string]pairReach) []Finding {
	byName := map[string]observe.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	var bad [][2]string
	silent := false
	for _, a := range nodes {
		for _, b := range nodes {
			if a.Name == b.Name || reach[[2]string{a.Name, b.Name}] != pairOK {
				continue
			}
			if c := check(a.Pod.Checks, PeerMTUKey(b.Name)); measuredLoss(c) {
				bad = append(bad, [2]string{a.Name, b.Name})
				silent = silent || c.PathMTU == nil || c.PathMTU.Told == 0
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	// The node in every failing pair, when there is one, is the one to blame.
	count := map[string]int{}
	for _, p := range bad {
		count[p[0]]++
		count[p[1]]++
	}
	var blamed []string
	for name, c := range count {
		if c == len(bad) {
			blamed = append(blamed, name)
		}
	}
	sort.Strings(blamed)
	if len(blamed) != 1 {
		blamed = nil
	}
	var ev []string
	underlay := 0 // the smallest path MTU the nodes measured between the nodes of failing pairs
	for _, p := range bad {
		ev = append(ev, pathMTUEvidence("pod", byName[p[0]].Pod.Checks, p[0], p[1]))
		if c := check(byName[p[0]].Host.Checks, PeerMTUKey(p[1])); c != nil && c.PathMTU != nil {
			ev = append(ev, pathMTUEvidence("node", byName[p[0]].Host.Checks, p[0], p[1]))
			if c.Outcome.Failed() && (underlay == 0 || c.PathMTU.Largest < underlay) {
				underlay = c.PathMTU.Largest
			}
		}
	}
	up := map[string]int{}
	for _, n := range nodes {
		dev, mtu := uplink(n)
		up[n.Name] = mtu
		if mtu > 0 {
			line := fmt.Sprintf("node@%s: uplink %s MTU %d", n.Name, dev, mtu)
			if o := n.Facts.Overlay; o != nil && o.Overhead > 0 {
				line += fmt.Sprintf(", %s MTU %d (%s adds %d bytes)", o.Link, overlayMTU(o, n.Facts.MTUs), o.Name, o.Overhead)
			}
			ev = append(ev, line)
		}
	}
	sev, how := Warning, "a router on the path announced the smaller MTU (TCP adapts; UDP and anything behind an ICMP filter does not)"
	if silent {
		sev, how = Error, "nothing on the path says so: an MTU blackhole (TLS handshakes and large responses hang)"
	}
	f := Finding{Severity: sev, Cause: CauseMTUPath, Nodes: blamed,
		Summary:  "packets of the pod network's full size between pods on these nodes are lost while smaller ones pass; " + how,
		Evidence: ev}
	if len(blamed) == 1 {
		n := byName[blamed[0]]
		dev, mine := uplink(n)
		most := 0
		for name, m := range up {
			if name != n.Name && m > most {
				most = m
			}
		}
		o := n.Facts.Overlay
		limit, _ := carried(n)
		switch {
		case mine > 0 && most > mine:
			f.Summary = fmt.Sprintf("full-size packets to and from pods on %s are lost while small ones pass: its uplink %s has MTU %d, the other nodes %d; %s", n.Name, dev, mine, most, how)
			f.Fix = []string{fmt.Sprintf("ip link set dev %s mtu %d   # on %s, to match the other nodes (persist it in the node's network config)", facts.ShellQuote(dev), most, n.Name),
				fmt.Sprintf("or give the pod network an MTU of at most %d (less the overlay's header) in the CNI's configuration, on every node", mine)}
		case o != nil && senderMTU(n) > overlayMTU(o, n.Facts.MTUs) && overlayMTU(o, n.Facts.MTUs) > 0:
			// Its pods were given more than its overlay device carries.
			f.Summary = fmt.Sprintf("pods on %s have MTU %d, above what its overlay device %s carries (%d): their full-size packets between nodes are lost or need fragmentation-needed to come back; %s",
				n.Name, senderMTU(n), o.Link, overlayMTU(o, n.Facts.MTUs), how)
			f.Fix = []string{fmt.Sprintf("set the CNI's MTU to at most %d on %s (flannel: drop the \"mtu\" from the delegate in /etc/cni/net.d/10-flannel.conflist so FLANNEL_MTU applies), then restart the pods started since: they keep the MTU they were given",
				overlayMTU(o, n.Facts.MTUs), n.Name)}
		case o != nil && o.Overhead > 0 && limit > 0 && overlayMTU(o, n.Facts.MTUs) > limit:
			f.Summary = fmt.Sprintf("full-size packets from pods on %s are lost while small ones pass: its overlay device %s has MTU %d, but its uplink carries %d once %s's %d bytes are added; %s",
				n.Name, o.Link, overlayMTU(o, n.Facts.MTUs), limit, o.Name, o.Overhead, how)
			f.Fix = overlayMTUFix(n, o, limit)
		}
	}
	if f.Fix == nil && underlay > 0 {
		overhead := 0
		for _, n := range nodes {
			if o := n.Facts.Overlay; o != nil {
				overhead = max(overhead, o.Overhead)
			}
		}
		f.Summary = fmt.Sprintf("the network between the nodes carries packets of at most %d bytes (measured from the nodes themselves), less than their uplinks' MTU: full-size pod packets are lost; %s", underlay, how)
		f.Fix = []string{fmt.Sprintf("set the pod network's MTU to at most %d in the CNI's configuration on every node (%d less %d bytes of overlay headers), or raise the MTU of the link or tunnel between the nodes", underlay-overhead, underlay, overhead)}
	}
	if f.Fix == nil {
		f.Fix = []string{"compare the MTUs on the path between the nodes (ip link on each; a tunnel or a router with a smaller MTU), and set the pod network's MTU in the CNI to the smallest less the overlay's header"}
	}
	return []Finding{f}
}

// measuredLoss: the measurement ran and found sizes that pass and larger
// ones that are lost. A probe that never answered (its exec cut at the
// deadline on a busy node, a host that answers no probe) measured nothing:
// no MTU verdict can come from it.
func measuredLoss(c *observe.Check) bool {
	return c != nil && c.Outcome.Failed() && c.PathMTU != nil && c.PathMTU.Largest > 0 && c.PathMTU.Failed > 0
}

// pathMTUEvidence is one measurement from side ("pod" or "node") of node
// from toward the same side of node to, in words.
func pathMTUEvidence(side string, checks []observe.Check, from, to string) string {
	return pathMTUEvidenceTo(side, from, side+" on "+to, *check(checks, PeerMTUKey(to)))
}

// pathMTUEvidenceTo is one measurement from side of node from to to, in words.
func pathMTUEvidenceTo(side, from, to string, c observe.Check) string {
	p := c.PathMTU
	if p == nil {
		return fmt.Sprintf("%s@%s → %s: path MTU %s", side, from, to, c.Outcome)
	}
	if !c.Outcome.Failed() {
		return fmt.Sprintf("%s@%s → %s: %s [%s, %s]", side, from, to, c.Detail, p.Tool, probes(p.Probes))
	}
	s := fmt.Sprintf("%s@%s → %s: with DF set, %d-byte packets pass and %d-byte ones are lost (the sender's %s MTU is %d)",
		side, from, to, p.Largest, p.Failed, p.Dev, p.Local)
	if p.Told > 0 {
		s += fmt.Sprintf("; %s answered \"fragmentation needed\", MTU %d", p.ToldBy, p.Told)
	}
	switch p.NoDF {
	case "lost":
		s += fmt.Sprintf("; a %d-byte ping without DF (fragmented by the sender) gets no answer either", p.Local+1)
	case "ok":
		s += fmt.Sprintf("; a %d-byte ping without DF (fragmented by the sender) is answered", p.Local+1)
	}
	return s + fmt.Sprintf(" [%s, %s]", p.Tool, probes(p.Probes))
}

// TargetMTUKey identifies the path-MTU measurement to an `external` target.
func TargetMTUKey(t target.Target) observe.CheckID {
	return observe.NewCheckID(observe.RoleTargetMTU, Key(t), 0)
}

// externalMTU: pods on a node lose packets to the target that are within
// their interface MTU. When the node itself carries more to the same
// target, the pod network's MTU is the one above the path's (a tunnel the
// pods' traffic takes, an egress gateway); when the node loses them too,
// the path beyond the node is short and pods send more than it carries.
func externalMTU(t target.Target, nodes []observe.Node) []Finding {
	id := TargetMTUKey(t)
	var out []Finding
	for _, n := range nodes {
		c := check(n.Pod.Checks, id)
		if !measuredLoss(c) {
			continue
		}
		p := c.PathMTU
		sev, how := Warning, "a router on the path announced it (TCP adapts; UDP and anything behind an ICMP filter does not)"
		if p.Told == 0 {
			sev, how = Error, "nothing on the path says so: an MTU blackhole (TLS handshakes and large responses hang)"
		}
		ev := []string{pathMTUEvidenceTo("pod", n.Name, t.String(), *c)}
		f := Finding{Severity: sev, Cause: CauseMTUPath, Target: t.String(), Nodes: []string{n.Name}}
		h := check(n.Host.Checks, id)
		if h != nil && h.PathMTU != nil {
			ev = append(ev, pathMTUEvidenceTo("node", n.Name, t.String(), *h))
		}
		switch {
		case h != nil && h.PathMTU != nil && h.PathMTU.Largest > p.Largest:
			f.Summary = fmt.Sprintf("from pods on %s, packets to %s over %d bytes are lost, within the pods' MTU of %d, while the node itself gets %d-byte ones through; %s",
				n.Name, t, p.Largest, p.Local, h.PathMTU.Largest, how)
			f.Fix = []string{fmt.Sprintf("set the pod network's MTU to at most %d in the CNI's configuration (pods started before keep theirs until restarted), or clamp TCP's MSS to the path MTU on %s: iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu", p.Largest, n.Name)}
		default:
			f.Summary = fmt.Sprintf("packets to %s over %d bytes are lost from pods on %s and from the node too: the path beyond the node carries less than the pods' MTU of %d; %s",
				t, p.Largest, n.Name, p.Local, how)
			f.Fix = []string{fmt.Sprintf("raise the MTU of the link or tunnel toward %s to %d, or set the pod network's MTU to at most %d in the CNI's configuration, or clamp TCP's MSS on the nodes: iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu", t, p.Local, p.Largest)}
		}
		f.Evidence = ev
		out = append(out, f)
	}
	return out
}

func probes(n int) string {
	if n == 1 {
		return "1 probe"
	}
	return fmt.Sprintf("%d probes", n)
}

// senderMTU is the pod interface MTU the node's pod probe measured with
// (the largest, where it sent to several peers).
func senderMTU(n observe.Node) int {
	m := 0
	for _, c := range n.Pod.Checks {
		if c.ID.Role == observe.RolePeerMTU && c.PathMTU != nil {
			m = max(m, c.PathMTU.Local)
		}
	}
	return m
}
