package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// CauseMissingPodRoute is named when a node has no route to another node's podCIDR.
const CauseMissingPodRoute Cause = "missing-podcidr-route"

// NodeNet is a node's addresses as the API shows them.
type NodeNet struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	// IPs are all its InternalIPs, one per family on a dual-stack node:
	// a route to an IPv6 podCIDR goes via the node's IPv6 address.
	IPs      []string `json:"ips,omitempty"`
	PodCIDRs []string `json:"podCIDRs,omitempty"`
}

// IPOf is the node's address of the family of cidr ("" when it has none).
func (n NodeNet) IPOf(cidr netip.Prefix) string {
	for _, ip := range append([]string{n.IP}, n.IPs...) {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() == cidr.Addr().Is6() {
			return a.String()
		}
	}
	return ""
}

// PodCIDRKey is the fact target standing for a podCIDR: its first host,
// whose route decision is the route to the whole podCIDR. It is only
// looked up (ip route get), never contacted.
func PodCIDRKey(cidr string) (string, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", false
	}
	return target.FirstHost(p.Masked()).String(), true
}

// podRoute is one node's route towards another node's podCIDR.
type podRoute struct {
	to    NodeNet
	cidr  string
	v6    bool
	route observe.Route
	ok    bool // a specific route exists
}

// podRoutes lists, for node n, its route to every other node's podCIDR
// that keep takes.
func podRoutes(n observe.Node, nets []NodeNet, keep func(cidr string) bool) []podRoute {
	var out []podRoute
	for _, other := range nets {
		if other.Name == n.Name {
			continue
		}
		for _, cidr := range other.PodCIDRs {
			key, ok := PodCIDRKey(cidr)
			if !ok || !keep(cidr) {
				continue
			}
			tf := factsFor(n, key)
			if tf == nil || tf.NodeRoute.Query == "" {
				continue
			}
			out = append(out, podRoute{to: other, cidr: cidr, v6: strings.Contains(cidr, ":"), route: tf.NodeRoute,
				ok: tf.NodeRoute.Err == "" && !tf.NodeRoute.Default})
		}
	}
	return out
}

// MissingPodRoutes finds nodes that lack a route to another node's
// podCIDR while they have one to the others: the CNI programs one route
// per node (host-gw, BGP, overlay devices), so a single missing one is a
// fault. When every podCIDR goes by the default route, the network
// fabric routes pod addresses (cloud VPC CNIs): no verdict then, unless
// failedTo says traffic to that node's pods actually failed.
func MissingPodRoutes(nodes []observe.Node, nets []NodeNet, failedTo func(from, to string) bool) ([]Finding, RouteGaps) {
	lost := func(from, to string, _ bool) bool { return failedTo != nil && failedTo(from, to) }
	return missingPodRoutes(nodes, nets, lost, func(string) bool { return true })
}

// missingPodRoutes is MissingPodRoutes for the podCIDRs keep takes, each
// family judged on its own (a fabric may route one family's pod addresses
// and not the other's); failedTo says whether traffic from→to failed in a family.
func missingPodRoutes(nodes []observe.Node, nets []NodeNet, failedTo func(from, to string, v6 bool) bool, keep func(cidr string) bool) ([]Finding, RouteGaps) {
	var out []Finding
	gaps := RouteGaps{}
	for _, n := range nodes {
		routes := podRoutes(n, nets, keep)
		specific := map[bool]int{}
		for _, r := range routes {
			if r.ok {
				specific[r.v6]++
			}
		}
		for _, r := range routes {
			if r.ok || (specific[r.v6] == 0 && !failedTo(n.Name, r.to.Name, r.v6)) {
				continue
			}
			gaps[[2]string{n.Name, r.to.Name}] = true
			how := "the default route"
			if r.route.Err != "" {
				how = "no route at all (" + r.route.Err + ")"
			} else if r.route.Via != "" {
				how += " (via " + r.route.Via + ")"
			}
			ev := []string{fmt.Sprintf("node@%s: %s → %s", n.Name, r.route.Query, routeText(r.route))}
			for _, o := range routes {
				if o.ok && o.v6 == r.v6 {
					ev = append(ev, fmt.Sprintf("node@%s: the route to %s's podCIDR %s exists: %s", n.Name, o.to.Name, o.cidr, o.route.Line))
					break
				}
			}
			via := r.to.IP
			if p, err := netip.ParsePrefix(r.cidr); err == nil {
				via = r.to.IPOf(p)
			}
			fix := fmt.Sprintf("ip %sroute add %s via %s   # on %s; or restart the CNI agent there, which programs these routes", map[bool]string{true: "-6 "}[r.v6], r.cidr, via, n.Name)
			if o := n.Facts.Overlay; o != nil && o.CNI == observe.CNIFlannel && o.Encap == observe.EncapVXLAN {
				// flannel routes each podCIDR through its VXLAN device, the
				// subnet's own address as the gateway (its neighbour entry).
				if p, err := netip.ParsePrefix(r.cidr); err == nil {
					fix = fmt.Sprintf("ip route add %s via %s dev %s onlink   # on %s; flanneld programs these: restarting it restores them", r.cidr, p.Masked().Addr(), facts.ShellQuote(o.Link), n.Name)
				}
			} else if via == "" {
				fix = "restart the CNI agent on " + n.Name + ": it programs the routes to the other nodes' podCIDRs"
			}
			out = append(out, Finding{Severity: Error, Cause: CauseMissingPodRoute, Nodes: []string{n.Name}, Target: r.to.Name + " " + r.cidr,
				Summary: fmt.Sprintf("no route to %s's podCIDR %s: traffic to the pods there takes %s, and replies from them to this node's pods are lost too",
					r.to.Name, r.cidr, how),
				Evidence: ev, Fix: []string{fix}})
		}
	}
	return out, gaps
}

func routeText(r observe.Route) string {
	if r.Err != "" {
		return r.Err
	}
	return r.Line
}

// RouteGaps is the set of (from, to) node pairs where from lacks its
// route to to's podCIDR, as MissingPodRoutes found them.
type RouteGaps map[[2]string]bool

// between reports a gap on the forward or the reply path of a↔b.
func (g RouteGaps) between(a, b string) bool { return g[[2]string{a, b}] || g[[2]string{b, a}] }
