package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// CauseDNSStubDomain is a name the nodes' own resolvers answer and CoreDNS's
// upstream does not know (NXDOMAIN): a private zone the Corefile has no
// server block (stub domain) for.
const CauseDNSStubDomain Cause = "dns-stub-domain-missing"

// DNSNodeKey is a name looked up with the node's own resolv.conf, as the
// node itself (and a dnsPolicy: Default pod) resolves it.
func DNSNodeKey(name string) observe.CheckID {
	return observe.NewCheckID(observe.RoleDNSNode, "", 0).Concerning(strings.TrimSuffix(name, "."))
}

// DNSUpstreamNameKey is one name asked of one forward target from the node,
// where a run asks several names (external).
func DNSUpstreamNameKey(ip, name string) observe.CheckID {
	return DNSUpstreamKey(ip).Concerning(strings.TrimSuffix(name, "."))
}

// stub is the evidence of a missing stub domain on one node.
type stub struct {
	zone      string
	resolvers []string // the node's nameservers pods can reach (no loopback)
	loopback  []string // the node's loopback nameservers (systemd-resolved's 127.0.0.53)
	evidence  []string
}

// stubDomain decides whether name fails in pods only because CoreDNS sends
// it to an upstream that does not know it while the node's resolvers do:
// the node resolved it (nodeLookup OK), the node's resolv.conf (nodeConf)
// names other resolvers than the forward targets, and every forward target
// asked from the node (upstream) said NXDOMAIN — an answer, not a fault of
// the way there. With no upstream asked, differing resolvers suffice.
func stubDomain(node, name string, fwd Forward, nodeConf, nodeLookup *observe.Check, upstream []*observe.Check) (stub, bool) {
	if fwd.ResolvConf || len(fwd.Targets) == 0 || nodeConf == nil || nodeConf.Outcome != observe.OK ||
		nodeLookup == nil || nodeLookup.Outcome != observe.OK {
		return stub{}, false // CoreDNS asks the nodes' own resolvers: a stub would not change the answer
	}
	s := stub{zone: zoneOf(name)}
	for _, ns := range nodeConf.Resolved {
		if contains(fwd.Targets, ns) {
			return stub{}, false // the same resolver answers the node and CoreDNS
		}
		if a, err := netip.ParseAddr(ns); err == nil && a.IsLoopback() {
			s.loopback = append(s.loopback, ns)
		} else {
			s.resolvers = append(s.resolvers, ns)
		}
	}
	for _, c := range upstream {
		if c == nil {
			continue
		}
		if c.Outcome != observe.DNSFailure || c.Detail != "NXDOMAIN" {
			return stub{}, false // the upstream did not answer, or failed otherwise: the upstream findings
		}
		s.evidence = append(s.evidence, describeCheck("node@"+node, *c))
	}
	if len(s.resolvers)+len(s.loopback) == 0 {
		return stub{}, false
	}
	s.evidence = append([]string{
		fmt.Sprintf("node@%s: /etc/resolv.conf: %s", node, nodeConf.Detail),
		describeCheck("node@"+node, *nodeLookup),
	}, s.evidence...)
	return s, true
}

// stubFinding is the finding of the nodes where stubDomain held.
func stubFinding(name string, fwd Forward, nodes []string, s stub, ev []string) Finding {
	via := strings.Join(append(append([]string{}, s.resolvers...), s.loopback...), ", ")
	to := strings.Join(fwd.Targets, ", ")
	f := Finding{Severity: Error, Cause: CauseDNSStubDomain, Nodes: nodes,
		Summary: fmt.Sprintf("%s resolves on the nodes (their resolver %s) but not in pods: CoreDNS forwards it to %s, which does not know it (NXDOMAIN) — a private zone with no stub domain in the Corefile",
			name, via, to),
		Evidence: firstSeen(append([]string{fwd.Source + ": " + fwd.Line}, ev...))}
	cm := fwd.ConfigMap
	if cm == "" {
		cm = "kube-system/coredns"
	}
	ns, cmName, _ := strings.Cut(cm, "/")
	server := strings.Join(s.resolvers, " ")
	if server == "" {
		// A loopback resolver (systemd-resolved) is the node's own: pods
		// cannot reach it, so name the one behind it.
		server = "<the resolver your nodes' " + strings.Join(s.loopback, ", ") + " forwards " + s.zone + " to: resolvectl status>"
	}
	f.Fix = append([]string{
		fmt.Sprintf("kubectl -n %s edit configmap %s   # add this server block to the Corefile, beside the \".:53\" one (%s is the name less its first label: use the zone your resolver serves)", ns, cmName, s.zone),
	}, StubBlock(s.zone, server)...)
	f.Fix = append(f.Fix, fmt.Sprintf("kubectl -n %s rollout restart deployment coredns   # or wait for the reload plugin: the kubelet updates the mounted Corefile within about a minute", ns))
	return f
}

// StubBlock is the Corefile server block that forwards zone to server.
func StubBlock(zone, server string) []string {
	return []string{zone + ":53 {", "    errors", "    cache 30", "    forward . " + server, "}"}
}

// zoneOf guesses a name's zone: the name less its first label, where that
// leaves two labels or more ("db.corp.example" → "corp.example").
func zoneOf(name string) string {
	name = strings.TrimSuffix(name, ".")
	if _, rest, ok := strings.Cut(name, "."); ok && strings.Contains(rest, ".") {
		return rest
	}
	return name
}

// externalStub is stubDomain for a name target of `external`: the node's
// own lookup is the target's DNS check on the node side.
func externalStub(t target.Target, key string, n observe.Node, fwd Forward) (stub, bool) {
	var lookup *observe.Check
	for i, c := range n.Host.Checks {
		if c.ID == observe.TargetID(key) && c.Kind == observe.DNS {
			lookup = &n.Host.Checks[i]
		}
	}
	var ups []*observe.Check
	for _, ft := range fwd.Targets {
		ups = append(ups, check(n.Host.Checks, DNSUpstreamNameKey(ft, t.Host)))
	}
	return stubDomain(n.Name, t.Host, fwd, check(n.Host.Checks, DNSResolvKey), lookup, ups)
}

// firstSeen drops repeated lines, keeping the order (the side's own
// evidence and the stub's name the node's lookup alike).
func firstSeen(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
