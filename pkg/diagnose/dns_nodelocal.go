package diagnose

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes of a NodeLocal DNSCache in the path: a per-node cache
// (k8s.io/dns node-cache, a hostNetwork DaemonSet) that pods on its node
// ask at a link-local address and that asks cluster DNS in their place.
const (
	// CauseDNSNodeLocalDown: nothing answers at the cache's address on
	// the node, from its pods nor from the node itself, while the DNS
	// pods answer directly.
	CauseDNSNodeLocalDown Cause = "dns-nodelocal-down"
	// CauseDNSNodeLocalPath: the cache answers the node, not its pods.
	CauseDNSNodeLocalPath Cause = "dns-nodelocal-path"
	// CauseDNSNodeLocalUpstream: the cache answers, with a failure, names
	// the DNS pods answer directly: its own upstream is what fails.
	CauseDNSNodeLocalUpstream Cause = "dns-nodelocal-upstream"
)

// NodeLocalKey files the node facts of the pods' flow to the cache.
const NodeLocalKey = "nodelocal-dns"

// NodeLocalDefaultAddr is the address node-local-dns's manifest binds
// (its __PILLAR__LOCAL__DNS__ as documented).
const NodeLocalDefaultAddr = "169.254.20.10"

// NodeLocal is a NodeLocal DNSCache as the API shows it.
type NodeLocal struct {
	Addr string `json:"addr"` // the address pods ask it at
	// Pods are its pods (a DaemonSet's: one per node it runs on);
	// DaemonSet their owner's namespace/name.
	Pods      []DNSServer `json:"pods"`
	DaemonSet string      `json:"daemonSet,omitempty"`
	// Corefile is its configuration; Upstream where it sends the cluster's
	// names (the forward line of the cluster domain's block).
	Corefile Corefile `json:"-"`
	Upstream Forward  `json:"upstream"`
	// UpstreamService is the Service whose ClusterIP is that forward
	// target (kube-dns-upstream in the manifest), where one is.
	UpstreamService *UpstreamService `json:"upstreamService,omitempty"`
}

// UpstreamService is the Service in front of cluster DNS that the cache
// forwards to, and what it selects.
type UpstreamService struct {
	Name      string            `json:"name"` // namespace/name
	ClusterIP string            `json:"clusterIP"`
	Selector  map[string]string `json:"selector,omitempty"`
	Ready     int               `json:"readyEndpoints"`
	// Want is the cluster DNS Service's selector: the pods it must select.
	Want map[string]string `json:"want,omitempty"`
}

// NodeLocalAddr reads the address the cache listens at from its
// Corefile's bind lines: the first address that is not one of the DNS
// Service's (iptables mode binds the kube-dns ClusterIP as well). The
// documented default when the Corefile binds none.
func NodeLocalAddr(corefile string, serviceIPs []string) string {
	for _, raw := range strings.Split(corefile, "\n") {
		f := strings.Fields(raw)
		if len(f) < 2 || f[0] != "bind" {
			continue
		}
		for _, a := range f[1:] {
			ip, err := netip.ParseAddr(a)
			if err == nil && !contains(serviceIPs, ip.String()) {
				return ip.String()
			}
		}
	}
	return NodeLocalDefaultAddr
}

// DNSCacheKey is a query sent to the cache's address.
func DNSCacheKey(addr string) observe.CheckID {
	return observe.NewCheckID(observe.RoleDNSCache, addr, 0)
}

// dnsNodeLocal: on each node where the DNS pods answer its pods directly,
// the cache's own answer from the pod and from the node, and its pod's
// state, tell a dead cache from a path to it from a failing upstream
// behind it. Where the DNS pods do not answer, the other findings name
// that: the cache cannot do better than what it asks.
func dnsNodeLocal(in DNSInput, ready []DNSServer) []Finding {
	nl := in.NodeLocal
	if nl == nil {
		return nil
	}
	key := DNSCacheKey(nl.Addr)
	var out []Finding
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		pc := check(n.Pod.Checks, key)
		if pc == nil || pc.Outcome == observe.OK || !podsAnswer(n, ready) {
			continue
		}
		hc := check(n.Host.Checks, key)
		pod := nl.podOn(n.Name)
		ev := []string{describeCheck("pod@"+n.Name, *pc)}
		if hc != nil {
			ev = append(ev, describeCheck("node@"+n.Name, *hc))
		}
		ev = append(ev, "the DNS pods answer pod@"+n.Name+" directly")
		ev = append(ev, nl.podLine(n.Name, pod))
		switch {
		case answered(*pc):
			out = append(out, nl.upstreamFinding(in, n.Name, *pc, ev))
		case hc != nil && hc.Outcome == observe.OK:
			out = append(out, nl.pathFinding(n, ev))
		default:
			out = append(out, nl.downFinding(n.Name, pod, ev))
		}
	}
	return out
}

// pathFinding: the cache answers the node, not its pods. The node's input
// hook, asked about the pods' query, says whether a rule there drops it.
func (nl NodeLocal) pathFinding(n observe.Node, ev []string) Finding {
	f := Finding{Severity: Error, Cause: CauseDNSNodeLocalPath, Nodes: []string{n.Name},
		Summary:  fmt.Sprintf("NodeLocal DNSCache answers at %s on this node itself but not its pods: something on the node drops the pods' queries to it", nl.Addr),
		Evidence: ev}
	for _, l := range n.Facts.Local {
		if l.Target != NodeLocalKey || l.Input.Result != observe.No {
			continue
		}
		f.Summary = fmt.Sprintf("the node's input hook drops its pods' queries to NodeLocal DNSCache at %s (udp/53), which answers the node itself: pods that resolve through it fail every lookup", nl.Addr)
		f.Evidence = append(f.Evidence, verdictEvidence(n.Name, "filter INPUT", l.Input)...)
		f.Fix = facts.FixerFor(l.Input.Datapath).AllowInbound(l.Input, "udp", 53, addrCIDR(n.Facts.PodCIDRs, nl.Addr))
		return f
	}
	f.Candidates = []string{
		"a filter INPUT rule (iptables or nftables) dropping traffic from the pod CIDR to " + nl.Addr + " udp/53 that the node's rules did not show (another netns, eBPF)",
		"the cache's NOTRACK/ACCEPT rules for " + nl.Addr + " missing (node-cache adds them at start: restarting its pod puts them back)",
		"a NetworkPolicy or cluster policy denying egress to " + nl.Addr,
	}
	f.Fix = []string{"on " + n.Name + ": iptables-save | grep -e " + nl.Addr + " -e INPUT; nft list ruleset | grep -e " + nl.Addr + " -e 'hook input'"}
	return f
}

// podsAnswer: at least one DNS pod answered the node's pods directly.
func podsAnswer(n observe.Node, ready []DNSServer) bool {
	for _, s := range ready {
		if c := check(n.Pod.Checks, DNSPodKey(s.IP)); c != nil && c.Outcome == observe.OK {
			return true
		}
	}
	return false
}

// answered: a DNS server sent a reply, a failing one.
func answered(c observe.Check) bool {
	switch c.Detail {
	case "SERVFAIL", "REFUSED", "NXDOMAIN":
		return c.Outcome == observe.DNSFailure
	}
	return false
}

func (nl NodeLocal) podOn(node string) *DNSServer {
	for i := range nl.Pods {
		if nl.Pods[i].Node == node {
			return &nl.Pods[i]
		}
	}
	return nil
}

func (nl NodeLocal) podLine(node string, p *DNSServer) string {
	if p == nil {
		return "no NodeLocal DNSCache pod runs on " + node + " (" + nl.owner() + ")"
	}
	return fmt.Sprintf("NodeLocal DNSCache pod %s on %s: %s, %d restarts", p.Name, node, p.state(), p.Restarts)
}

func (nl NodeLocal) owner() string {
	if nl.DaemonSet != "" {
		return "DaemonSet " + nl.DaemonSet
	}
	return "pods labelled k8s-app=node-local-dns"
}

// namespace of the cache's pods, from its DaemonSet or ConfigMap.
func (nl NodeLocal) namespace() string {
	for _, s := range []string{nl.DaemonSet, nl.Corefile.ConfigMap} {
		if ns, _, ok := strings.Cut(s, "/"); ok {
			return ns
		}
	}
	return "kube-system"
}

func (nl NodeLocal) downFinding(node string, p *DNSServer, ev []string) Finding {
	ns := nl.namespace()
	f := Finding{Severity: Error, Cause: CauseDNSNodeLocalDown, Nodes: []string{node}, Evidence: ev}
	switch {
	case p == nil:
		f.Summary = fmt.Sprintf("no NodeLocal DNSCache runs on this node: nothing answers at %s, and pods told to use it fail every lookup", nl.Addr)
		f.Fix = []string{fmt.Sprintf("kubectl -n %s describe daemonset %s   # does it select and tolerate %s?", ns, nl.daemonSetName(), node)}
	case !p.Ready:
		f.Summary = fmt.Sprintf("NodeLocal DNSCache on this node is not ready and nothing answers at %s: pods that resolve through it fail every lookup", nl.Addr)
		f.Fix = []string{
			fmt.Sprintf("kubectl -n %s logs %s --previous   # why it stopped", ns, p.Name),
			fmt.Sprintf("kubectl -n %s describe pod %s", ns, p.Name),
		}
	default:
		// Ready yet silent: node-cache sets its interface and address up
		// when it starts; they are gone (or it no longer listens).
		f.Summary = fmt.Sprintf("NodeLocal DNSCache's pod on this node is Ready but nothing answers at %s, from the node itself either: its listen address is gone from the node, and pods that resolve through it fail every lookup", nl.Addr)
		f.Fix = []string{
			fmt.Sprintf("on %s: ip -o addr show | grep %s   # to confirm: no interface carries it (node-cache's is nodelocaldns)", node, nl.Addr),
			fmt.Sprintf("kubectl -n %s delete pod %s   # the DaemonSet starts a new one, which sets its interface and %s up again", ns, p.Name, nl.Addr),
		}
	}
	return f
}

func (nl NodeLocal) daemonSetName() string {
	if _, name, ok := strings.Cut(nl.DaemonSet, "/"); ok {
		return name
	}
	return "-l k8s-app=node-local-dns"
}

// upstreamFinding: the cache answers with a failure what the DNS pods
// answer; its forward target for the cluster's names is the suspect.
func (nl NodeLocal) upstreamFinding(in DNSInput, node string, c observe.Check, ev []string) Finding {
	up := nl.Upstream
	f := Finding{Severity: Error, Cause: CauseDNSNodeLocalUpstream, Nodes: []string{node}, Evidence: ev}
	where := strings.Join(up.Targets, ", ")
	if where == "" {
		where = "its upstream"
	}
	f.Summary = fmt.Sprintf("NodeLocal DNSCache answers at %s with %s for %s, which the DNS pods answer directly: the cache's upstream for the cluster's names, %s, fails it", nl.Addr, c.Detail, in.Name, where)
	if up.Line != "" {
		ev = append(ev, fmt.Sprintf("%s: the %s block forwards with %q", up.Source, up.Zone, up.Line))
	} else if up.Err != "" {
		ev = append(ev, up.Source+": "+up.Err)
	}
	f.Evidence = ev
	s := nl.UpstreamService
	if s == nil {
		f.Fix = []string{fmt.Sprintf("kubectl -n %s edit configmap %s   # the forward line of its %s block must name the cluster DNS Service %s (or a Service selecting the same pods)",
			nl.namespace(), nl.configMapName(), zoneOr(up.Zone, in.Name), in.ClusterIP)}
		return f
	}
	sns, sname, _ := strings.Cut(s.Name, "/")
	f.Evidence = append(f.Evidence, fmt.Sprintf("Service %s (%s) selects %s: %d ready endpoints", s.Name, s.ClusterIP, selectorText(s.Selector), s.Ready))
	if s.Ready == 0 && len(s.Want) > 0 && !sameSelector(s.Selector, s.Want) {
		f.Summary = fmt.Sprintf("NodeLocal DNSCache answers at %s with %s for %s: it forwards the cluster's names to Service %s, whose selector %s matches no DNS pod (cluster DNS's is %s)",
			nl.Addr, c.Detail, in.Name, s.Name, selectorText(s.Selector), selectorText(s.Want))
		// Replaced whole: a merge patch would keep a wrong key beside the right ones.
		want, _ := json.Marshal(s.Want)
		f.Fix = []string{fmt.Sprintf(`kubectl -n %s patch service %s --type json -p '[{"op":"replace","path":"/spec/selector","value":%s}]'`, sns, sname, want)}
		return f
	}
	f.Fix = []string{fmt.Sprintf("kubectl -n %s get service %s -o wide; kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s   # it must select the DNS pods (%s)",
		sns, sname, sns, sname, selectorText(s.Want))}
	return f
}

func (nl NodeLocal) configMapName() string {
	if _, name, ok := strings.Cut(nl.Corefile.ConfigMap, "/"); ok {
		return name
	}
	return "node-local-dns"
}

func zoneOr(zone, name string) string {
	if zone != "" {
		return zone
	}
	return "the " + name
}

func sameSelector(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func selectorText(m map[string]string) string {
	if len(m) == 0 {
		return "nothing (no selector)"
	}
	return selectorString(m)
}

// NodeLocalNote says that the cache was found and asked, and where from.
func NodeLocalNote(nl NodeLocal) string {
	s := fmt.Sprintf("NodeLocal DNSCache (%s, %d pods) asked at %s from each node's pod probe and the node itself", nl.owner(), len(nl.Pods), nl.Addr)
	if len(nl.Upstream.Targets) > 0 {
		s += "; it forwards the cluster's names to " + strings.Join(nl.Upstream.Targets, ", ")
	}
	return s
}

// NodeLocalUnseen notes pods told to use a link-local nameserver where no
// NodeLocal DNSCache pods were found: a cache installed some other way,
// not asked by this run (the cluster DNS Service and pods were).
func NodeLocalUnseen(in DNSInput) string {
	if in.NodeLocal != nil {
		return ""
	}
	var nodes []string
	addr := ""
	for _, n := range in.Nodes {
		if rc := check(n.Pod.Checks, DNSResolvKey); rc != nil && rc.Outcome == observe.OK {
			if a := linkLocal(rc.Resolved); a != "" && !contains(rc.Resolved, in.ClusterIP) {
				addr = a
				nodes = append(nodes, n.Name)
			}
		}
	}
	if addr == "" {
		return ""
	}
	return fmt.Sprintf("pods on %s are told to use %s, a link-local address where a node-local DNS cache listens, but no cache pods were found (labels k8s-app=node-local-dns or nodelocaldns, app.kubernetes.io/name=node-local-dns in kube-system): it was not asked; the DNS Service and pods behind it were",
		strings.Join(nodes, ", "), addr)
}
