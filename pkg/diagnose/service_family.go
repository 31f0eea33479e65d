package diagnose

// Dual-stack Services: one ClusterIP per family, each family's endpoints
// in EndpointSlices of its own addressType. A family is judged from its
// own ClusterIP, its own endpoints, and its own FORWARD verdicts.

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes of a dual-stack Service's one family.
const (
	// CauseFamilyNoEndpoints: one family's ClusterIP has no ready endpoint
	// while the other family's has.
	CauseFamilyNoEndpoints Cause = "service-family-no-endpoints"
	// CauseFamilyMissing: ipFamilyPolicy RequireDualStack, one family
	// without a ClusterIP.
	CauseFamilyMissing Cause = "service-family-missing"
)

// endpointSliceController is the managed-by label of the slices Kubernetes
// writes from a selector (and its mirroring controller's, from Endpoints).
const (
	endpointSliceController = "endpointslice-controller.k8s.io"
	endpointSliceMirroring  = "endpointslicemirroring-controller.k8s.io"
)

// AllClusterIPs are the Service's ClusterIPs, the primary first; nil when headless.
func (in ServiceInput) AllClusterIPs() []string {
	if in.Headless() {
		return nil
	}
	if len(in.ClusterIPs) == 0 {
		return []string{in.ClusterIP}
	}
	return in.ClusterIPs
}

// DualStack says whether the Service has a ClusterIP in each family.
func (in ServiceInput) DualStack() bool {
	v4, v6 := false, false
	for _, ip := range in.AllClusterIPs() {
		if a, err := netip.ParseAddr(ip); err == nil {
			v4, v6 = v4 || a.Is4(), v6 || a.Is6()
		}
	}
	return v4 && v6
}

// ClusterIPVIPOf is one ClusterIP's key in the proxy facts.
func (in ServiceInput) ClusterIPVIPOf(ip string) string { return in.vipKey(ip, in.Port.Port) }

func is6(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Is6()
}

// familyView is the Service as one family sees it: that family's ClusterIP
// as the ClusterIP, that family's endpoints as the endpoints. A
// single-stack Service is its own only view.
func (in ServiceInput) familyView(ip string) ServiceInput {
	if !in.DualStack() {
		return in
	}
	v := in
	v6 := is6(ip)
	v.ClusterIP, v.ClusterIPs = ip, []string{ip}
	v.Endpoints = nil
	for _, e := range in.Endpoints {
		if is6(e.IP) == v6 {
			v.Endpoints = append(v.Endpoints, e)
		}
	}
	return v
}

// liveFamilies are the views of the ClusterIPs with a ready endpoint: the
// others are the static verdict's (service-family-no-endpoints).
func (in ServiceInput) liveFamilies() []ServiceInput {
	var out []ServiceInput
	for _, ip := range in.AllClusterIPs() {
		if v := in.familyView(ip); len(v.ReadyEndpoints()) > 0 {
			out = append(out, v)
		}
	}
	return out
}

// familyStatic judges a dual-stack Service's families from its objects:
// a family whose ClusterIP has no ready endpoint while the other's has,
// and RequireDualStack with a family missing.
func familyStatic(in ServiceInput) []Finding {
	var out []Finding
	if f := familyMissing(in); f != nil {
		out = append(out, *f)
	}
	if !in.DualStack() {
		return out
	}
	ips := in.AllClusterIPs()
	for i, ip := range ips {
		bad := in.familyView(ip)
		if len(bad.ReadyEndpoints()) > 0 {
			continue
		}
		for _, other := range ips {
			if good := in.familyView(other); is6(other) != is6(ip) && len(good.ReadyEndpoints()) > 0 {
				out = append(out, familyNoEndpoints(in, bad, good, i == 0))
				break
			}
		}
	}
	return out
}

func familyMissing(in ServiceInput) *Finding {
	if in.IPFamilyPolicy != "RequireDualStack" || in.Headless() || in.DualStack() {
		return nil
	}
	have := "IPv4"
	if is6(in.ClusterIP) {
		have = "IPv6"
	}
	return &Finding{Severity: Warning, Cause: CauseFamilyMissing, Target: in.ref(),
		Summary: fmt.Sprintf("the Service requires dual-stack (ipFamilyPolicy RequireDualStack) but has a ClusterIP of one family only (%s): clients of the other family have no address to reach it at", have),
		Evidence: []string{fmt.Sprintf("spec.ipFamilyPolicy=%s, spec.ipFamilies=%s, spec.clusterIPs=%s", in.IPFamilyPolicy,
			strings.Join(in.IPFamilies, ","), strings.Join(in.AllClusterIPs(), ","))},
		Fix: []string{fmt.Sprintf(`kubectl -n %s patch service %s -p '{"spec":{"ipFamilyPolicy":"PreferDualStack"}}'   # if the cluster serves one family now: the policy then says what the Service has`, in.Namespace, in.Name),
			"or give the API server a Service range of each family again (--service-cluster-ip-range=<IPv4 CIDR>,<IPv6 CIDR>), then recreate the Service: it gets a ClusterIP of each family"}}
}

// familyNoEndpoints: bad's family has no ready endpoint, good's has.
func familyNoEndpoints(in, bad, good ServiceInput, primary bool) Finding {
	fam, other := familyName(is6(bad.ClusterIP)), familyName(is6(good.ClusterIP))
	port := in.Port.Port
	f := Finding{Severity: Error, Cause: CauseFamilyNoEndpoints, Target: in.ref(),
		Summary: fmt.Sprintf("the Service's %s ClusterIP %s has no ready endpoint while its %s ClusterIP %s has %d: clients connecting over %s (its AAAA record, or the %s address given to them) fail, %s clients work",
			fam, bad.ClusterIP, other, good.ClusterIP, len(good.ReadyEndpoints()), fam, fam, other)}
	if fam == "IPv4" {
		f.Summary = strings.Replace(f.Summary, "its AAAA record", "its A record", 1)
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("spec.ipFamilyPolicy=%s, spec.ipFamilies=%s, spec.clusterIPs=%s", orNone(in.IPFamilyPolicy),
		strings.Join(in.IPFamilies, ","), strings.Join(in.AllClusterIPs(), ",")))
	f.Evidence = append(f.Evidence, sliceEvidence(in, bad, fam)...)
	f.Evidence = append(f.Evidence, sliceEvidence(in, good, other)...)
	f.Evidence = append(f.Evidence, clusterIPEvidence(in.Nodes, bad.ClusterIP, port, 2)...)
	f.Evidence = append(f.Evidence, clusterIPEvidence(in.Nodes, good.ClusterIP, port, 1)...)

	managers, unlabelled := sliceManagers(in, fam)
	var custom []string
	for _, m := range managers {
		if m != endpointSliceController && m != endpointSliceMirroring {
			custom = append(custom, m)
		}
	}
	notReady := 0
	for _, e := range bad.Endpoints {
		if !e.Ready {
			notReady++
		}
	}
	list := "kubectl -n " + in.Namespace + " get endpointslices -l kubernetes.io/service-name=" + in.Name + " -o wide"
	switch {
	case len(custom) > 0 || unlabelled:
		who := strings.Join(custom, ", ")
		if unlabelled {
			who = strings.TrimPrefix(who+", something without an endpointslice.kubernetes.io/managed-by label (a person or a tool)", ", ")
		}
		f.Fix = append(f.Fix, fmt.Sprintf("the %s EndpointSlice is written by %s, not by Kubernetes' EndpointSlice controller: it must set conditions.ready: true on the %s endpoints once they serve (or stop publishing them): %s",
			fam, who, fam, list))
	case notReady == 0 && len(in.Backends) > 0:
		// The controller writes an endpoint of a family only for pods with an address of it.
		f.Candidates = append(f.Candidates, fmt.Sprintf("the pods behind the Service have no %s address (status.podIPs): the CNI gives them %s only — give it the cluster's %s pod range (kubectl get nodes -o jsonpath='{.items[*].spec.podCIDRs}'), then recreate the pods", fam, other, fam))
		f.Evidence = append(f.Evidence, backendFamilies(in, is6(bad.ClusterIP))...)
		f.Fix = append(f.Fix, list)
	default:
		f.Fix = append(f.Fix, list+"   # which endpoints are not ready, and why (conditions: serving, terminating)")
	}
	if primary {
		f.Fix = append(f.Fix, fmt.Sprintf("if the Service need not answer over %s: its primary family cannot be changed in place; recreate it with ipFamilyPolicy: SingleStack and ipFamilies: [%s]", fam, other))
	} else {
		f.Fix = append(f.Fix, fmt.Sprintf(`kubectl -n %s patch service %s -p '{"spec":{"ipFamilyPolicy":"SingleStack"}}'   # only if the Service need not answer over %s: keeps %s %s, releases %s`,
			in.Namespace, in.Name, fam, other, good.ClusterIP, bad.ClusterIP))
	}
	return f
}

func orNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// sliceEvidence says what the family's EndpointSlices list for the port.
func sliceEvidence(in, view ServiceInput, fam string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in.Slices {
		if s.AddressType != fam {
			continue
		}
		seen[s.Name] = true
		var ready, bad []string
		for _, e := range view.Endpoints {
			if e.Slice != s.Name {
				continue
			}
			if e.Ready {
				ready = append(ready, e.IP)
				continue
			}
			st := "ready=false"
			if e.Terminating {
				st += ", terminating"
			}
			bad = append(bad, e.IP+e.where()+" "+st)
		}
		line := fmt.Sprintf("EndpointSlice %s (%s, managed by %s): %d of %d endpoints ready", s.Name, s.AddressType, orNone(s.ManagedBy), len(ready), len(ready)+len(bad))
		if len(bad) > 0 {
			line += "; not ready: " + strings.Join(bad, "; ")
		}
		out = append(out, line)
	}
	if len(seen) == 0 {
		out = append(out, fmt.Sprintf("no %s EndpointSlice lists an address for port %d", fam, in.Port.Port))
	}
	return out
}

// sliceManagers are the managed-by labels of the family's slices; unlabelled
// says some slice has none.
func sliceManagers(in ServiceInput, fam string) (managers []string, unlabelled bool) {
	for _, s := range in.Slices {
		if s.AddressType != fam {
			continue
		}
		if s.ManagedBy == "" {
			unlabelled = true
		} else if !contains(managers, s.ManagedBy) {
			managers = append(managers, s.ManagedBy)
		}
	}
	return managers, unlabelled
}

// backendFamilies lists the selected pods without an address of the family.
func backendFamilies(in ServiceInput, v6 bool) []string {
	var out []string
	for _, b := range in.Backends {
		has := false
		for _, ip := range append([]string{b.IP}, b.IPs...) {
			if ip != "" && is6(ip) == v6 {
				has = true
			}
		}
		if !has {
			out = append(out, fmt.Sprintf("pod %s: status.podIPs %s: no %s address", b.Pod, strings.Join(uniqOrdered(append([]string{b.IP}, b.IPs...)), ","), familyName(v6)))
		}
	}
	return out
}

func uniqOrdered(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" && !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// clusterIPEvidence is up to max pod-side checks of one ClusterIP.
func clusterIPEvidence(nodes []observe.Node, ip string, port int32, max int) []string {
	var out []string
	for _, n := range nodes {
		if c := check(n.Pod.Checks, SvcClusterIPKey(ip, port)); c != nil && len(out) < max {
			out = append(out, describeCheck("pod@"+n.Name, *c))
		}
	}
	return out
}

// familyDrop is a node whose FORWARD verdict drops its pods' traffic of a family.
type familyDrop struct {
	node string
	v6   bool
}

// forwardDrops: a node whose FORWARD verdict for its pods' traffic of a
// family (the facts' walk of the other nodes' pod ranges from the pod's
// address of that family) is a drop, and whose pods lose that family's
// endpoints, or whose endpoints other nodes' pods lose. It explains those
// losses: the cross-node and silent-endpoint verdicts leave them out.
func forwardDrops(in ServiceInput, views []epView, ran []observe.Node) ([]Finding, map[familyDrop]bool) {
	var out []Finding
	explained := map[familyDrop]bool{}
	for _, n := range ran {
		for _, v6 := range []bool{false, true} {
			tf := forwardDropFacts(n, v6)
			if tf == nil {
				continue
			}
			var from, to, okOther []string
			fromOther, fromOwn := false, false
			for _, v := range views {
				if is6(v.e.IP) != v6 {
					if s, ok := v.ev[n.Name]; ok && contains(v.ok, n.Name) && len(okOther) == 0 {
						okOther = append(okOther, s)
					}
					continue
				}
				if contains(v.lost, n.Name) {
					from = append(from, v.ev[n.Name])
					fromOwn = fromOwn || v.e.Node == n.Name
					fromOther = fromOther || v.e.Node != n.Name
				}
				if v.e.Node == n.Name {
					for _, m := range v.lost {
						if m != n.Name {
							to = append(to, v.ev[m])
						}
					}
				}
			}
			if len(from)+len(to) == 0 {
				continue
			}
			explained[familyDrop{n.Name, v6}] = true
			fam := familyName(v6)
			var lost []string
			switch {
			case fromOther && fromOwn:
				// Pod to pod on one node crosses the bridge, which hands the
				// frames to ip6tables/iptables too (br_netfilter).
				lost = append(lost, "its pods lose the Service's "+fam+" endpoints on other nodes and on this node (with br_netfilter, bridged pod traffic passes the FORWARD chain too)")
			case fromOther:
				lost = append(lost, "its pods lose the Service's "+fam+" endpoints on other nodes")
			case fromOwn:
				lost = append(lost, "its pods lose the Service's "+fam+" endpoints on this node (with br_netfilter, bridged pod traffic passes the FORWARD chain too)")
			}
			if len(to) > 0 {
				lost = append(lost, "other nodes' pods lose the "+fam+" endpoints on it")
			}
			what := strings.Join(lost, ", and ")
			if in.DualStack() {
				what += "; " + familyName(!v6) + " passes"
			}
			ev := append(append(capEvidence(from, 3), capEvidence(to, 3)...), okOther...)
			ev = append(ev, verdictEvidence(n.Name, "filter FORWARD", tf.Forward)...)
			cidr := familyCIDR(n.Facts.PodCIDRs, v6)
			fix := facts.FixerFor(tf.Forward.Datapath).AllowForward(tf.Forward, cidr, true)
			if len(fix) > 0 {
				fix[0] += "   # on " + n.Name
			}
			out = append(out, Finding{Severity: Error, Cause: CauseForwardDrop, Nodes: []string{n.Name}, Target: in.ref(),
				Summary:  "the node's " + fam + " FORWARD chain drops its pods' traffic to and from pods on other nodes: " + what,
				Evidence: ev, Fix: fix})
		}
	}
	return out, explained
}

// forwardDropFacts is a fact target of the family (another node's pod
// range, as the plan considers them) whose FORWARD verdict is a drop.
func forwardDropFacts(n observe.Node, v6 bool) *observe.TargetFacts {
	for i := range n.Facts.Targets {
		tf := &n.Facts.Targets[i]
		addr := tf.Addr
		if addr == "" {
			addr = tf.Target
		}
		if _, err := netip.ParseAddr(addr); err == nil && tf.Forward.Result == observe.No && is6(addr) == v6 {
			return tf
		}
	}
	return nil
}

func capEvidence(ev []string, max int) []string {
	if len(ev) <= max {
		return ev
	}
	return append(ev[:max:max], fmt.Sprintf("… and %d more", len(ev)-max))
}

// explainedLoss: the endpoint's loss from node is a FORWARD drop of its
// family on either end.
func explainedLoss(explained map[familyDrop]bool, e Endpoint, from string) bool {
	v6 := is6(e.IP)
	return explained[familyDrop{from, v6}] || explained[familyDrop{e.Node, v6}]
}

// sourceFor is the side's address a flow to dst leaves from: its address
// of dst's family.
func sourceFor(side observe.SideResult, dst string) string {
	a, _ := netip.ParseAddr(dst)
	return side.IPFor(a)
}
