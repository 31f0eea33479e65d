package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes of `dns` on dual-stack clusters: the second address family.
const (
	// CauseDNSFamilyPath: pods on a node reach a DNS pod at its address of
	// one family and not at its address of the other, and no rule read on
	// either node says why.
	CauseDNSFamilyPath Cause = "dns-family-path"
	// CauseDNSNoAAAA: CoreDNS answers a name's A lookup and not its AAAA
	// lookup, though the name has an IPv6 address (a dual-stack Service, a
	// pod's own record).
	CauseDNSNoAAAA Cause = "dns-aaaa-missing"
)

// DNSAAAA is the name `dns` asks for its AAAA records on a dual-stack
// cluster: one the cluster DNS must answer with an IPv6 address.
type DNSAAAA struct {
	Name string   // the FQDN asked
	Of   string   // what it names, for the reader: "Service kube-system/kube-dns", "the DNS pod kube-system/coredns-x's own record"
	Want []string // its IPv6 addresses (the Service's ClusterIPs of that family, the pod's address)
}

// DNSAAAAKey is the key of the AAAA lookup sent to the DNS Service IP: the
// Service's role and address, told apart from the plain lookup by Of.
func DNSAAAAKey(clusterIP string) observe.CheckID {
	return DNSServiceKey(clusterIP).Concerning("AAAA")
}

// DNSDualStack says whether any DNS pod has an address in a second family
// (status.podIPs): the cluster is dual-stack, and `dns` asks in both.
func DNSDualStack(servers []DNSServer) bool {
	for _, s := range servers {
		if s.Other != "" {
			return true
		}
	}
	return false
}

func addrFamily(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}

// serviceHas says whether the DNS Service has a ClusterIP of ip's family.
func (in DNSInput) serviceHas(family string) bool {
	for _, c := range append([]string{in.ClusterIP}, in.ServiceIPs...) {
		if _, err := netip.ParseAddr(c); err == nil && addrFamily(c) == family {
			return true
		}
	}
	return false
}

// dnsFamily judges the second family: each DNS pod asked at its other
// address from every node, and the AAAA lookup of a dual-stack name.
func dnsFamily(in DNSInput, ready []DNSServer) []Finding {
	var out []Finding
	for _, s := range ready {
		if s.Other != "" && s.IP != "" {
			out = append(out, familyPath(in, s)...)
		}
	}
	out = append(out, serviceFamily(in, ready)...)
	return append(out, aaaaMissing(in)...)
}

// DNSServiceOthers are the DNS Service's ClusterIPs besides the primary
// (a dual-stack Service's other family), parsed.
func (in DNSInput) DNSServiceOthers() []string {
	var out []string
	for _, c := range in.ServiceIPs {
		if a, err := netip.ParseAddr(c); err == nil && a.String() != in.ClusterIP {
			out = append(out, a.String())
		}
	}
	return out
}

// serviceFamily: a dual-stack DNS Service asked at its other ClusterIP.
// Where the Service answers a node's pods at its primary address and not at
// this one while a DNS pod answers them in that family directly, the
// Service's rules of that family on the node are what is missing.
func serviceFamily(in DNSInput, ready []DNSServer) []Finding {
	var out []Finding
	for _, ip := range in.DNSServiceOthers() {
		fam := addrFamily(ip)
		for _, n := range in.Nodes {
			if n.Err != "" || n.Pod.Err != "" {
				continue
			}
			p, q := check(n.Pod.Checks, DNSServiceKey(in.ClusterIP)), check(n.Pod.Checks, DNSServiceKey(ip))
			if p == nil || q == nil || p.Outcome != observe.OK || !q.Outcome.Failed() {
				continue
			}
			ev := []string{describeCheck("pod@"+n.Name, *p), describeCheck("pod@"+n.Name, *q)}
			direct := false
			for _, s := range ready {
				if s.Other == "" || addrFamily(s.Other) != fam {
					continue
				}
				if c := check(n.Pod.Checks, DNSPodKey(s.Other)); c != nil {
					ev = append(ev, describeCheck("pod@"+n.Name, *c)+" (DNS pod on "+s.Node+")")
					direct = direct || c.Outcome == observe.OK
				}
			}
			if !direct {
				continue // the pods of that family are not reached either: familyPath says why
			}
			tool := map[string]string{"IPv4": "iptables-save", "IPv6": "ip6tables-save"}[fam]
			out = append(out, Finding{Severity: Error, Cause: CauseDNSServicePath, Nodes: []string{n.Name},
				Summary: fmt.Sprintf("the DNS pods answer this node's pods over %s directly, and the DNS Service answers at %s and not at its %s address %s: the Service's %s rules on this node (kube-proxy) are missing or broken",
					fam, in.ClusterIP, fam, ip, fam),
				Evidence: ev,
				Fix: []string{"kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide   # is it running on " + n.Name + "? (--cluster-cidr must list both families)",
					"on the node: " + tool + " -t nat | grep " + ip + "   # the KUBE-SERVICES rule must exist (nftables mode: nft list map ip6 kube-proxy service-ips)"}})
		}
	}
	return out
}

// familyPath: pods on some nodes reach the DNS pod s at its primary
// address and not at its other one. Where a node's rules of that family
// drop the traffic (the DNS pod's node forwarding it in, or the client's
// forwarding it out), that node is named with the fix in its own tool;
// otherwise the clients, with the candidates.
func familyPath(in DNSInput, s DNSServer) []Finding {
	fam, primary := addrFamily(s.Other), addrFamily(s.IP)
	v6 := fam == "IPv6"
	var bad []observe.Node
	var ev []string
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		p, q := check(n.Pod.Checks, DNSPodKey(s.IP)), check(n.Pod.Checks, DNSPodKey(s.Other))
		if p == nil || q == nil || p.Outcome != observe.OK || !q.Outcome.Failed() {
			continue // both work, or the primary fails too: DNS's own verdicts say why
		}
		bad = append(bad, n)
		ev = append(ev, describeCheck("pod@"+n.Name, *p)+" (DNS pod on "+s.Node+")",
			describeCheck("pod@"+n.Name, *q)+" (DNS pod on "+s.Node+")")
	}
	if len(bad) == 0 {
		return nil
	}
	where := fmt.Sprintf("the DNS pod %s on %s over %s (%s) and not over %s (%s)", s.Name, s.Node, primary, s.IP, fam, s.Other)
	lookups := fmt.Sprintf("the DNS Service %s has no %s address, so lookups still go over %s; every other %s flow to and from these pods fails the same way", in.ClusterIP, fam, primary, fam)
	sev := Warning
	if in.serviceHas(fam) {
		sev = Error
		lookups = fmt.Sprintf("the DNS Service has an %s address too: lookups sent over %s fail", fam, fam)
	}
	var out []Finding
	names := func(ns []observe.Node) string {
		var xs []string
		for _, n := range ns {
			xs = append(xs, n.Name)
		}
		return strings.Join(uniq(xs), ", ")
	}
	// The DNS pod's node: traffic to its pods comes in through its forward
	// hook (from the bridge too, with bridge-nf-call-ip6tables).
	var server *observe.Node
	for i := range in.Nodes {
		if in.Nodes[i].Name == s.Node && in.Nodes[i].Err == "" {
			server = &in.Nodes[i]
		}
	}
	explained := map[string]bool{}
	if server != nil {
		if f, ok := familyNodeDrop(*server, v6, true); ok {
			f.Summary = fmt.Sprintf("%s; pods on %s reach %s: %s", f.Summary, names(bad), where, lookups)
			f.Evidence = append(append([]string{}, ev...), f.Evidence...)
			f.Severity = Error
			out = append(out, f)
			for _, n := range bad {
				explained[n.Name] = true
			}
		}
	}
	var unexplained []observe.Node
	var unev []string
	for i, n := range bad {
		if n.Name == s.Node && explained[n.Name] {
			continue
		}
		if f, ok := familyNodeDrop(n, v6, false); ok {
			f.Summary = fmt.Sprintf("%s; its pods reach %s: %s", f.Summary, where, lookups)
			f.Evidence = append([]string{ev[2*i], ev[2*i+1]}, f.Evidence...)
			f.Severity = Error
			out = append(out, f)
			continue
		}
		if !explained[n.Name] {
			unexplained = append(unexplained, n)
			unev = append(unev, ev[2*i], ev[2*i+1])
		}
	}
	if len(unexplained) > 0 {
		var nodes []string
		for _, n := range unexplained {
			nodes = append(nodes, n.Name)
		}
		out = append(out, Finding{Severity: sev, Cause: CauseDNSFamilyPath, Nodes: nodes,
			Summary:  fmt.Sprintf("pods on these nodes reach %s: the %s path between them is broken, the %s one works; %s", where, fam, primary, lookups),
			Evidence: unev,
			Candidates: []string{
				fmt.Sprintf("a missing %s route to %s's %s pod range (%s on the client node)", fam, s.Node, fam, map[bool]string{false: "ip route", true: "ip -6 route"}[v6]),
				fmt.Sprintf("an %s rule on %s dropping traffic to its pods (%s -S FORWARD, -S INPUT)", fam, s.Node, map[bool]string{false: "iptables", true: "ip6tables"}[v6]),
				"a NetworkPolicy ipBlock that admits the " + primary + " range and not the " + fam + " one",
				"CoreDNS bound to its " + primary + " address only (a bind line in the Corefile)",
			},
			Fix: []string{"kubectl netcheck node   # both families' forwarding, FORWARD and masquerade on every node"}})
	}
	return out
}

// familyNodeDrop: the node's own settings of one family drop forwarded pod
// traffic — forwarding off, or its forward hook dropping the family's
// sample flow. in: the drop is of traffic into its pods (the fix allows
// both ways).
func familyNodeDrop(n observe.Node, v6, in bool) (Finding, bool) {
	cidr := familyCIDR(n.Facts.PodCIDRs, v6)
	if cidr == "" {
		return Finding{}, false
	}
	if f, off := forwardingOff(n, v6); off {
		return f, true
	}
	key := SampleKey
	if v6 {
		key = SampleKey6
	}
	sample := factsFor(n, key)
	if sample == nil || sample.Forward.Result != observe.No {
		return Finding{}, false
	}
	f := Finding{Severity: Error, Cause: CauseForwardDrop, Nodes: []string{n.Name},
		Summary:  "the node's FORWARD chain drops its pods' " + family(v6) + "traffic",
		Evidence: verdictEvidence(n.Name, "filter FORWARD", sample.Forward)}
	if in {
		f.Summary = "the node's FORWARD chain drops " + family(v6) + "traffic to and from its pods"
	}
	f.Fix = facts.FixerFor(sample.Forward.Datapath).AllowForward(sample.Forward, cidr, in)
	return f, true
}

// reachesEveryServer: n's pod got an answer from every DNS pod it asked
// directly at its first address.
func reachesEveryServer(n observe.Node, servers []DNSServer) bool {
	for _, s := range servers {
		if c := check(n.Pod.Checks, DNSPodKey(s.IP)); c != nil && c.Outcome != observe.OK {
			return false
		}
	}
	return true
}

// aaaaMissing: through the DNS Service, a node's pods get the A answer and
// no IPv6 address for a name that has one.
func aaaaMissing(in DNSInput) []Finding {
	a := in.AAAA
	if a == nil || in.ClusterIP == "" {
		return nil
	}
	key := DNSAAAAKey(in.ClusterIP)
	byDetail := map[string][]string{}
	var order []string
	var ev []string
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		svc, q := check(n.Pod.Checks, DNSServiceKey(in.ClusterIP)), check(n.Pod.Checks, key)
		if svc == nil || q == nil || svc.Outcome != observe.OK {
			continue // no A either: the Service path's own verdicts
		}
		if !reachesEveryServer(n, in.Servers) {
			continue // the Service may have sent the AAAA lookup to a DNS pod this node cannot reach: that pod's verdict
		}
		if q.Outcome == observe.OK && anyV6(q.Resolved) {
			continue
		}
		if !q.Outcome.Failed() && q.Outcome != observe.OK {
			continue // not run, or the exec failed: nothing about DNS
		}
		d := q.Detail
		if q.Outcome == observe.OK {
			d = "no IPv6 address: " + q.Detail
		}
		if _, ok := byDetail[d]; !ok {
			order = append(order, d)
		}
		byDetail[d] = append(byDetail[d], n.Name)
		ev = append(ev, fmt.Sprintf("pod@%s: nslookup -type=AAAA %s %s: %s (%s); its A lookup through the Service: %s (%s)",
			n.Name, a.Name, in.ClusterIP, q.Outcome, q.Detail, svc.Outcome, svc.Detail))
	}
	if len(order) == 0 {
		return nil
	}
	lines := aaaaFilters(in.Corefile.Text, a.Name)
	for _, l := range lines {
		ev = append(ev, in.Corefile.Source+": "+l)
	}
	var out []Finding
	for _, d := range order {
		sev, effect := Warning, "pods get only the IPv4 addresses of dual-stack names, and nothing reaches them by name over IPv6"
		if d != "no address in the answer" {
			sev, effect = Error, "every lookup that asks for A and AAAA at once (glibc, musl) waits for the AAAA answer and fails or is slow"
		}
		f := Finding{Severity: sev, Cause: CauseDNSNoAAAA, Nodes: byDetail[d],
			Summary: fmt.Sprintf("CoreDNS answers the A lookup and not the AAAA lookup of %s (%s, IPv6 %s): %s through the DNS Service %s; %s",
				a.Name, a.Of, strings.Join(a.Want, ","), d, in.ClusterIP, effect),
			Evidence: ev}
		cm := "kube-system/coredns"
		if in.Corefile.ConfigMap != "" {
			cm = in.Corefile.ConfigMap
		}
		ns, name, _ := strings.Cut(cm, "/")
		if len(lines) > 0 {
			f.Fix = []string{
				fmt.Sprintf("kubectl -n %s edit configmap %s   # remove the block that answers AAAA itself: %s", ns, name, lines[0]),
				"kubectl -n " + ns + " rollout restart deployment coredns   # or wait for the reload plugin"}
		} else {
			f.Fix = []string{
				fmt.Sprintf("kubectl -n %s get configmap %s -o yaml   # a plugin answering AAAA before kubernetes (template, rewrite, a filter)", ns, name),
				fmt.Sprintf("kubectl -n %s logs -l k8s-app=kube-dns   # errors answering AAAA", ns)}
		}
		out = append(out, f)
	}
	return out
}

func anyV6(addrs []string) bool {
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() && !a.Is4In6() {
			return true
		}
	}
	return false
}

// aaaaFilters finds the Corefile's lines that answer AAAA queries for name
// before the kubernetes plugin can: a template of type AAAA or ANY for its
// zone (the well-known "drop AAAA" snippet), in the server block CoreDNS
// gives name to — the one whose zone is its longest suffix.
func aaaaFilters(corefile, name string) []string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	_, lines, _ := serverBlockFor(corefile, name)
	var out []string
	for _, line := range lines {
		fs := strings.Fields(strings.TrimSuffix(line, "{"))
		if len(fs) < 3 || fs[0] != "template" || (fs[2] != "AAAA" && fs[2] != "ANY") {
			continue
		}
		match := len(fs) == 3
		for _, z := range fs[3:] {
			if _, _, ok := zoneMatch(z, name); ok {
				match = true
			}
		}
		if match {
			out = append(out, line)
		}
	}
	return out
}

// DNSFamilyNotes are what the run says about the second family that is
// information, not a fault: a single-stack DNS Service on a dual-stack
// cluster, which name was asked for AAAA, or why none was.
func DNSFamilyNotes(in DNSInput, why string) []string {
	if !DNSDualStack(in.Servers) {
		return nil
	}
	var out []string
	var fams []string
	for _, s := range in.Servers {
		if s.Other != "" {
			fams = []string{addrFamily(s.IP), addrFamily(s.Other)}
			break
		}
	}
	if len(fams) == 2 && in.ClusterIP != "" && !in.serviceHas(fams[1]) {
		out = append(out, fmt.Sprintf("the DNS Service %s is single-stack (%s %s) on a dual-stack cluster: pods send every lookup over %s; each DNS pod was asked at its %s address too",
			in.Service, fams[0], in.ClusterIP, fams[0], fams[1]))
	}
	switch {
	case in.AAAA != nil:
		out = append(out, fmt.Sprintf("AAAA asked for %s (%s), which must answer %s", in.AAAA.Name, in.AAAA.Of, strings.Join(in.AAAA.Want, ",")))
	case why != "":
		out = append(out, "no AAAA lookup: "+why)
	}
	return out
}
