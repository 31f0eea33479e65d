package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes of `dns --outside NAME`: the way out of cluster DNS.
const (
	// CauseDNSUpstream: cluster names resolve, the outside name does not,
	// and CoreDNS's forward target answers no node either.
	CauseDNSUpstream Cause = "dns-upstream-unreachable"
	// CauseDNSForward: the forward target answers the nodes, yet the name
	// fails through CoreDNS.
	CauseDNSForward Cause = "dns-forward-failing"
)

// Forward is what CoreDNS's Corefile says about names outside the cluster.
type Forward struct {
	Source     string   `json:"source"`               // e.g. "ConfigMap kube-system/coredns"
	ConfigMap  string   `json:"configMap,omitempty"`  // its namespace/name, where it is one
	Zone       string   `json:"zone,omitempty"`       // the server block's zone: "." or a stub domain
	Line       string   `json:"line,omitempty"`       // that block's forward line, as written
	Targets    []string `json:"targets,omitempty"`    // its upstream addresses (parsed; ports dropped)
	ResolvConf bool     `json:"resolvConf,omitempty"` // forward . /etc/resolv.conf: the nodes' own resolvers
	Err        string   `json:"error,omitempty"`      // why it is unknown
}

// Corefile is CoreDNS's configuration as read from the ConfigMap its pods
// mount.
type Corefile struct {
	Source    string // e.g. "ConfigMap kube-system/coredns"
	ConfigMap string // namespace/name
	Text      string
	Err       string // why it is unknown
}

// ForwardFor is where CoreDNS sends name: the forward line of the server
// block whose zone is the longest suffix of name ("." for the rest).
func (c Corefile) ForwardFor(name string) Forward {
	if c.Err != "" {
		return Forward{Source: c.Source, ConfigMap: c.ConfigMap, Err: c.Err}
	}
	f := parseForward(c.Text, name)
	f.Source, f.ConfigMap = c.Source, c.ConfigMap
	return f
}

// ParseCorefileForward finds the forward line of the server block for the
// root zone ("." or ".:53") and its upstream addresses.
func ParseCorefileForward(corefile string) Forward { return parseForward(corefile, "") }

// parseForward reads the forward line of the server block that serves
// name: the one whose zone is its longest suffix, where "." serves all.
func parseForward(corefile, name string) Forward {
	zone, lines, ok := serverBlockFor(corefile, name)
	if !ok {
		return Forward{Err: "no server block serves the root zone"}
	}
	f := Forward{Zone: zone}
	for _, line := range lines {
		fs := strings.Fields(line)
		if len(fs) < 3 || fs[0] != "forward" || fs[1] != "." {
			continue
		}
		f.Line = line
		for _, to := range fs[2:] {
			if to == "{" {
				break
			}
			if to == "/etc/resolv.conf" {
				f.ResolvConf = true
				continue
			}
			if a, ok := upstreamAddr(to); ok {
				f.Targets = append(f.Targets, a)
			}
		}
		return f
	}
	if zone == "." {
		f.Err = "no forward line in the root zone's server block"
	} else {
		f.Err = "no forward line in the server block for " + zone
	}
	return f
}

// serverBlockFor finds the server block CoreDNS gives name to — the first
// whose zone is the longest suffix of name, "." serving all — and returns
// its zone and its own directive lines (comments stripped, nested blocks'
// lines left out but their opening lines kept).
func serverBlockFor(corefile, name string) (zone string, lines []string, ok bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	bestLen, curLen, depth := -1, -1, 0
	var curZone string
	var cur []string
	done := func() {
		if curLen > bestLen {
			zone, lines, bestLen = curZone, cur, curLen
		}
	}
	for _, raw := range strings.Split(corefile, "\n") {
		line := strings.TrimSpace(raw)
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if depth == 0 && strings.HasSuffix(line, "{") {
			done()
			curZone, cur, curLen = "", nil, -1
			for _, z := range strings.Fields(strings.TrimSuffix(line, "{")) {
				if zn, n, ok := zoneMatch(z, name); ok && n > curLen {
					curZone, curLen = zn, n
				}
			}
		}
		if curLen >= 0 && depth == 1 {
			cur = append(cur, line)
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	done()
	return zone, lines, bestLen >= 0
}

// zoneMatch reads one server block key ("corp.example:53", "dns://.:53")
// and tells whether its zone serves name, and how specifically (its
// length in characters; 0 for the root).
func zoneMatch(key, name string) (string, int, bool) {
	z := strings.TrimPrefix(key, "dns://")
	if i := strings.LastIndex(z, ":"); i >= 0 {
		z = z[:i]
	}
	z = strings.ToLower(strings.TrimSuffix(z, "."))
	switch {
	case z == "":
		return ".", 0, true
	case name == z || strings.HasSuffix(name, "."+z):
		return z, len(z), true
	}
	return "", 0, false
}

// upstreamAddr reads one forward target: an address, maybe with a port
// or a dns:// scheme. A port other than 53 stays on it ("10.0.0.2:5353",
// "[2001:db8::53]:5353"), the form busybox nslookup takes as its server.
// Other schemes (tls://) are left out.
func upstreamAddr(to string) (string, bool) {
	to = strings.TrimPrefix(to, "dns://")
	if ap, err := netip.ParseAddrPort(to); err == nil {
		if ap.Port() != 53 {
			return ap.String(), true
		}
		return ap.Addr().String(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(to, "[]")); err == nil {
		return a.String(), true
	}
	return "", false
}

// DNSOutsideKey is the outside name's query through the DNS Service.
func DNSOutsideKey(svcIP string) observe.CheckID {
	return observe.NewCheckID(observe.RoleDNSOutside, svcIP, 0)
}

// DNSUpstreamKey is the outside name asked of one forward target from the node.
func DNSUpstreamKey(ip string) observe.CheckID {
	return observe.NewCheckID(observe.RoleDNSUpstream, ip, 0)
}

// dnsUpstream compares, on each node, a cluster name and the outside name
// through the DNS Service with the outside name asked of CoreDNS's forward
// targets from the node itself: which part of the way out fails.
func dnsUpstream(in DNSInput) []Finding {
	if in.Outside == "" {
		return nil
	}
	var down, passOn, cached, stubs, nowhere []string
	var evDown, evPass, evCached, stubEv, evNowhere []string
	var stubAt stub
	reached := false        // the upstream answered some node
	var downRcodes []string // what it said to the nodes where the name fails
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		cluster, outside := check(n.Pod.Checks, DNSServiceKey(in.ClusterIP)), check(n.Pod.Checks, DNSOutsideKey(in.ClusterIP))
		if cluster == nil || outside == nil || cluster.Outcome != observe.OK {
			continue // DNS itself is broken: the other findings
		}
		ev := []string{describeCheck("pod@"+n.Name, *cluster), describeCheck("pod@"+n.Name, *outside)}
		answered, asked := false, false
		var rcodes []string
		for _, t := range in.Forward.Targets {
			if c := check(n.Host.Checks, DNSUpstreamKey(t)); c != nil {
				asked = true
				ev = append(ev, describeCheck("node@"+n.Name, *c))
				answered = answered || c.Outcome == observe.OK
				rcodes = append(rcodes, c.Detail)
			}
		}
		if outside.Outcome == observe.OK {
			if asked && !answered { // resolved, yet the upstream answers no one here
				cached, evCached = append(cached, n.Name), append(evCached, ev...)
			}
			reached = reached || answered
			continue
		}
		var ups []*observe.Check
		for _, t := range in.Forward.Targets {
			ups = append(ups, check(n.Host.Checks, DNSUpstreamKey(t)))
		}
		nodeConf, nodeLookup := check(n.Host.Checks, DNSResolvKey), check(n.Host.Checks, DNSNodeKey(in.Outside))
		if st, ok := stubDomain(n.Name, in.Outside, in.Forward, nodeConf, nodeLookup, ups); ok {
			stubs, stubEv = append(stubs, n.Name), append(stubEv, append(ev[:2:2], st.evidence...)...)
			stubAt = st
			continue
		}
		if asked && same(rcodes) == "NXDOMAIN" && nodeLookup != nil && nodeLookup.Outcome.Failed() {
			nowhere, evNowhere = append(nowhere, n.Name), append(evNowhere, append(ev, describeCheck("node@"+n.Name, *nodeLookup))...)
			continue
		}
		if asked && answered {
			passOn, evPass = append(passOn, n.Name), append(evPass, ev...)
		} else {
			down, evDown = append(down, n.Name), append(evDown, ev...)
			downRcodes = append(downRcodes, rcodes...)
		}
	}
	corefile := in.Forward.Source + ": " + in.Forward.Line
	if in.Forward.Line == "" {
		corefile = in.Forward.Source + ": forward target unknown (" + in.Forward.Err + ")"
	}
	var out []Finding
	if len(stubs) > 0 {
		out = append(out, stubFinding(in.Outside, in.Forward, stubs, stubAt, stubEv))
	}
	if len(nowhere) > 0 {
		out = append(out, Finding{Severity: Error, Cause: CauseNameUnresolved, Nodes: nowhere,
			Summary:  fmt.Sprintf("%s does not exist for CoreDNS's upstream %s nor for the nodes' own resolvers (NXDOMAIN from both): the name is wrong, or lives in a DNS neither asks", in.Outside, strings.Join(in.Forward.Targets, ", ")),
			Evidence: append([]string{corefile}, evNowhere...),
			Fix:      []string{"check the name; if it lives in a private zone, forward that zone to its DNS server in the Corefile (a stub domain) and in the nodes' resolver"}})
	}
	if len(down) > 0 {
		f := Finding{Severity: Error, Cause: CauseDNSUpstream, Nodes: down,
			Evidence: append([]string{corefile}, evDown...)}
		if len(in.Forward.Targets) > 0 {
			t := strings.Join(in.Forward.Targets, ", ")
			switch same(downRcodes) {
			case "REFUSED": // it answers, and says no: an access list
				f.Summary = fmt.Sprintf("cluster names resolve but %s does not: CoreDNS forwards outside names to %s, which refuses them (REFUSED), to these nodes too", in.Outside, t)
				f.Fix = []string{
					fmt.Sprintf("let the resolver at %s answer the cluster: allow recursion for the nodes' addresses (CoreDNS's queries come from the CoreDNS pods, masqueraded to their nodes' addresses): BIND allow-recursion/allow-query, Unbound access-control, dnsmasq --interface/--listen-address", t),
					"or forward to a resolver that answers: kubectl -n kube-system edit configmap coredns   # forward . <resolver>",
				}
			case "SERVFAIL": // it answers, and cannot resolve the name itself
				f.Summary = fmt.Sprintf("cluster names resolve but %s does not: CoreDNS forwards outside names to %s, which fails to resolve it (SERVFAIL), for these nodes too", in.Outside, t)
				f.Candidates = []string{"the resolver's own upstream unreachable", "DNSSEC validation failing for the zone", "the zone's authoritative servers down or lame"}
				f.Fix = []string{
					fmt.Sprintf("look at the resolver at %s: its logs for %s (its upstream, DNSSEC)", t, in.Outside),
					"or forward to a resolver that answers: kubectl -n kube-system edit configmap coredns   # forward . <resolver>",
				}
			default:
				f.Summary = fmt.Sprintf("cluster names resolve but %s does not: CoreDNS forwards outside names to %s, which answers none of these nodes either", in.Outside, t)
				f.Fix = []string{
					fmt.Sprintf("make the resolver at %s answer (is it running? is port 53, UDP and TCP, open to the nodes?)", t),
					"or forward to a resolver that answers: kubectl -n kube-system edit configmap coredns   # forward . <resolver>",
				}
			}
		} else {
			f.Summary = fmt.Sprintf("cluster names resolve but %s does not: the way out of cluster DNS (CoreDNS's forward upstream) fails", in.Outside)
			f.Candidates = []string{"CoreDNS's upstream resolver down or unreachable from the CoreDNS pods' nodes", "the nodes' /etc/resolv.conf (forward . /etc/resolv.conf) pointing at a resolver that does not answer"}
			f.Fix = []string{"kubectl -n kube-system get configmap coredns -o yaml   # the forward line", "kubectl -n kube-system logs -l k8s-app=kube-dns"}
		}
		out = append(out, f)
	}
	if len(cached) > 0 && len(down) == 0 {
		// The name still resolves: from CoreDNS's cache (until its TTL,
		// at most the cache plugin's), or CoreDNS's own node still
		// reaches the upstream. Soon an error, so a warning now.
		t := strings.Join(in.Forward.Targets, ", ")
		summary := fmt.Sprintf("%s resolves, but CoreDNS's forward target %s answers none of the nodes: the answer came from CoreDNS's cache, or only the CoreDNS pods' own path reaches the upstream", in.Outside, t)
		if reached {
			summary = fmt.Sprintf("%s resolves, but CoreDNS's forward target %s does not answer these nodes (it answers others): a CoreDNS pod scheduled here would fail outside names", in.Outside, t)
		}
		out = append(out, Finding{Severity: Warning, Cause: CauseDNSUpstream, Nodes: cached,
			Summary:  summary,
			Evidence: append([]string{corefile}, evCached...),
			Fix: []string{
				fmt.Sprintf("make the resolver at %s answer the nodes (is it running? is port 53, UDP and TCP, open to them?)", t),
				"or forward to a resolver that answers: kubectl -n kube-system edit configmap coredns   # forward . <resolver>",
			}})
	}
	if len(passOn) > 0 {
		out = append(out, Finding{Severity: Error, Cause: CauseDNSForward, Nodes: passOn,
			Summary:  fmt.Sprintf("the upstream %s answers %s to the nodes, but CoreDNS does not pass the answer on to pods", strings.Join(in.Forward.Targets, ", "), in.Outside),
			Evidence: append([]string{corefile}, evPass...),
			Candidates: []string{"the CoreDNS pods' own path to the upstream (their nodes' FORWARD, a NetworkPolicy on kube-system egress)",
				"a Corefile block for that zone that answers differently (a stub domain, rewrite or template)"},
			Fix: []string{"kubectl -n kube-system logs -l k8s-app=kube-dns", "kubectl -n kube-system get configmap coredns -o yaml"}})
	}
	return out
}

// same is the one value every element has, or "" when they differ.
func same(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			return ""
		}
	}
	return vs[0]
}
