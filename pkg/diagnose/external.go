package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// ExternalInput is everything `netcheck external` observed.
type ExternalInput struct {
	Targets []target.Target
	Nodes   []observe.Node
	Cluster observe.Cluster
	// Port is also TCP-connected on address targets (--port).
	Port int
	// Policies are the NetworkPolicies and who the pod side ran as.
	Policies Policies
	// Forwards is where CoreDNS sends each name target (by host; absent:
	// not read).
	Forwards map[string]Forward
}

// External diagnoses reachability of outside targets from pods and nodes.
func External(in ExternalInput) []Finding {
	var out []Finding
	for _, t := range in.Targets {
		// An overlapping target never leaves the cluster: per-node verdicts about it would mislead.
		if ov := overlap(t, in.Cluster); len(ov) > 0 {
			out = append(out, ov...)
			continue
		}
		fs := externalTarget(t, in)
		if ff := familyFinding(t, in.Nodes); ff != nil {
			// The family that fails everywhere is what "no node reaches it" saw.
			fs = slices.DeleteFunc(fs, func(f Finding) bool { return f.Cause == CauseOutside })
			fs = append(fs, *ff)
		}
		out = append(out, fs...)
		out = append(out, externalMTU(t, in.Nodes)...)
	}
	for _, n := range in.Nodes {
		if n.Err != "" {
			out = append(out, probeFailed(n.Name, n.Err))
		}
	}
	return merge(out)
}

// reach summarises one side's checks against one target.
type reach struct {
	ran         bool // some check ran to an outcome
	ok          bool // some non-DNS check reached the target
	dnsFailed   bool
	pingFailed  bool
	pingOK      bool
	otherOK     bool // TCP or HTTP reached it
	otherFailed bool
	evidence    []string
}

func summarize(who string, side observe.SideResult, id observe.CheckID) reach {
	var r reach
	for _, c := range side.Checks {
		if c.ID != id || c.Outcome == observe.NotRun || c.Outcome == observe.Error {
			if c.ID == id && c.Outcome == observe.Error {
				r.evidence = append(r.evidence, fmt.Sprintf("%s %s: could not run: %s", who, c.Kind, c.Detail))
			}
			continue
		}
		r.ran = true
		r.evidence = append(r.evidence, describeCheck(who, c))
		switch c.Kind {
		case observe.DNS:
			if c.Outcome.Failed() {
				r.dnsFailed = true
			}
		case observe.Ping:
			if c.Outcome == observe.OK {
				r.pingOK, r.ok = true, true
			} else {
				r.pingFailed = true
			}
		default:
			if c.Outcome == observe.OK || c.Outcome == observe.HTTPError || c.Outcome == observe.Refused {
				// An HTTP error status or a refusal came from the target: the path works.
				r.otherOK, r.ok = true, true
			} else {
				r.otherFailed = true
			}
		}
	}
	return r
}

func describeCheck(who string, c observe.Check) string {
	s := fmt.Sprintf("%s %s %s: %s", who, c.Kind, c.ID, c.Outcome)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	if c.Outcome == observe.OK && c.Latency > 0 {
		s += fmt.Sprintf(" in %s", c.Latency.Round(100_000))
	}
	return s
}

func factsFor(n observe.Node, key string) *observe.TargetFacts {
	for i := range n.Facts.Targets {
		if n.Facts.Targets[i].Target == key {
			return &n.Facts.Targets[i]
		}
	}
	return nil
}

func externalTarget(t target.Target, in ExternalInput) []Finding {
	key := Key(t)
	var nodes []nodeReach
	for _, n := range in.Nodes {
		if n.Err != "" {
			continue
		}
		nodes = append(nodes, nodeReach{n: n,
			pod:  summarize("pod@"+n.Name, n.Pod, observe.TargetID(key)),
			host: summarize("node@"+n.Name, n.Host, observe.TargetID(key))})
	}
	var out []Finding
	hostOKSomewhere := false
	var goodRoute *observe.Route
	for _, nr := range nodes {
		if nr.host.ok {
			hostOKSomewhere = true
			if f := factsFor(nr.n, key); f != nil && f.NodeRoute.Err == "" && goodRoute == nil {
				r := f.NodeRoute
				goodRoute = &r
			}
		}
	}
	allHostFail := len(nodes) > 0
	for _, nr := range nodes {
		if !nr.host.ran || nr.host.ok {
			allHostFail = false
		}
	}
	if allHostFail {
		// No node reaches it: do not blame the cluster for the outside world.
		return append(out, outsideCluster(t, key, nodes)...)
	}
	for _, nr := range nodes {
		f := factsFor(nr.n, key)
		ev := append(append([]string{}, nr.pod.evidence...), nr.host.evidence...)
		// The policies come before the path verdicts: an enforcing CNI's own
		// FORWARD rules would read as a host firewall, its REJECT as the target's refusal.
		podIP := nr.n.Pod.IPFor(flowAddr(t, f))
		v, flow, judged := in.Policies.egressTo(nr.n.Name, podIP, t, in.Port)
		denied := judged && !v.Allowed()
		switch {
		case denied && nr.n.Host.Err != "" && nr.n.Pod.Err == "" && nr.pod.ran && !connected(nr.n.Pod, observe.TargetID(key)):
			// No node side to compare (--from-ephemeral where PodSecurity
			// refuses it): the policy alone explains a lost or refused flow.
			out = append(out, policyDenied(Finding{Target: key, Nodes: []string{nr.n.Name}, Evidence: ev}, v, flow, in.Policies))
		case nr.n.Host.Err != "" && nr.pod.ok && (!denied || !connected(nr.n.Pod, observe.TargetID(key))):
			// Pods reach it; there is nothing to compare the node side with.
		case nr.n.Host.Err != "" && !nr.pod.ran:
			out = append(out, Finding{Severity: Warning, Cause: CauseInconclusive, Target: key, Nodes: []string{nr.n.Name},
				Summary:  "no pod-side check ran to an outcome, and the node side could not be probed: " + nr.n.Host.Err,
				Evidence: append(ev, notRun("pod@"+nr.n.Name, nr.n.Pod, observe.TargetID(key))...)})
		case nr.n.Host.Err != "" && !nr.pod.ok:
			out = append(out, Finding{Severity: Warning, Cause: CauseInconclusive, Target: key, Nodes: []string{nr.n.Name},
				Summary:  "pods fail, and the node side could not be probed to compare: " + nr.n.Host.Err,
				Evidence: ev})
		case nr.n.Pod.Err != "":
			out = append(out, Finding{Severity: Warning, Cause: CauseInconclusive, Target: key, Nodes: []string{nr.n.Name},
				Summary:  "the pod side could not be probed: " + nr.n.Pod.Err,
				Evidence: ev})
		case !nr.pod.ran && !nr.host.ran:
			out = append(out, Finding{Severity: Warning, Cause: CauseInconclusive, Target: key, Nodes: []string{nr.n.Name},
				Summary: "no check ran to an outcome on this node", Evidence: ev})
		case denied && connected(nr.n.Pod, observe.TargetID(key)):
			fd := policyNotEnforced(key, nr.n.Name, v, flow)
			fd.Evidence = append(ev, fd.Evidence...)
			out = append(out, fd)
		case denied && nr.host.ok:
			// Dropped, or rejected by the enforcer (a refusal that is not the target's).
			out = append(out, policyDenied(Finding{Target: key, Nodes: []string{nr.n.Name}, Evidence: ev}, v, flow, in.Policies))
		case nr.pod.ok && nr.host.ok:
			if fd, ok := icmpOnly(key, nr.n.Name, nr.pod, ev); ok {
				if names := in.Policies.icmpDenied(nr.n.Name, podIP, t); names != "" {
					fd.Summary = "ping fails but TCP/HTTP works: " + names + " admits the port, not ICMP (a rule with ports never matches ICMP); the target is reachable"
				}
				out = append(out, fd)
			}
		case nr.host.ok && !nr.pod.ok:
			out = append(out, podOnlyFails(t, key, nr.n, nr.pod, f, in, ev))
		case !nr.host.ok && nr.pod.ok:
			out = append(out, Finding{Severity: Warning, Cause: CauseNodeOnlyFails, Target: key, Nodes: []string{nr.n.Name},
				Summary:  "pods reach the target but the node itself does not: a host firewall (OUTPUT chain) or the node's own DNS",
				Evidence: ev})
		default: // both fail, while some other node reaches it
			out = append(out, bothFail(t, key, nr.n, f, nr.host, goodRoute, hostOKSomewhere, ev))
		}
	}
	return out
}

// notRun lists a side's checks of id that did not run, and why.
func notRun(who string, side observe.SideResult, id observe.CheckID) []string {
	var out []string
	for _, c := range side.Checks {
		if c.ID == id && c.Outcome == observe.NotRun {
			out = append(out, fmt.Sprintf("%s %s: %s", who, c.Kind, c.Detail))
		}
	}
	return out
}

// connected: some non-DNS check of the side reached the target itself (a
// refusal may be an enforcer's REJECT, so it does not count here).
func connected(side observe.SideResult, id observe.CheckID) bool {
	for _, c := range side.Checks {
		if c.ID == id && c.Kind != observe.DNS && c.Outcome == observe.OK {
			return true
		}
	}
	return false
}

// nodeReach is one node's two sides against one target.
type nodeReach struct {
	n         observe.Node
	pod, host reach
}

// Key is the name a target's checks and facts are filed under.
func Key(t target.Target) string { return t.Key() }

func outsideCluster(t target.Target, key string, nodes []nodeReach) []Finding {
	var ev, names []string
	dnsEverywhere := true
	noRoute := 0
	for _, nr := range nodes {
		names = append(names, nr.n.Name)
		ev = append(ev, nr.host.evidence...)
		if !nr.host.dnsFailed {
			dnsEverywhere = false
		}
		if f := factsFor(nr.n, key); f != nil {
			ev = append(ev, routeEvidence(nr.n.Name, f.NodeRoute))
			if f.NodeRoute.Err != "" || f.NodeRoute.Default && t.Kind == target.KindCIDR {
				noRoute++
			}
		}
	}
	if dnsEverywhere && t.IsName() {
		return []Finding{{Severity: Error, Cause: CauseNameUnresolved, Target: key, Nodes: names,
			Summary:  fmt.Sprintf("%s does not resolve from any node nor any pod: the name is wrong or only exists in a DNS the cluster does not use", t.Host),
			Evidence: ev,
			Fix:      []string{"check the name; if it lives in a private zone, add a stub domain to CoreDNS (forward <zone> <dns-server-ip>) and to the nodes' resolv.conf"}}}
	}
	fd := Finding{Severity: Warning, Cause: CauseOutside, Target: key, Nodes: names,
		Summary:  "no node reaches the target either: the target is down, or something outside the cluster (upstream router, firewall) drops the traffic; this is not a pod-network fault",
		Evidence: ev,
		Fix:      []string{"check the target host and the path from the nodes to it (traceroute from a node, the upstream firewall)"}}
	if noRoute == len(nodes) && len(nodes) > 0 {
		fd.Candidates = []string{"no node has a specific route to " + t.String() + ": if it sits behind a private router, add the route on every node (ip route add <subnet> via <router> dev <if>)"}
	}
	return []Finding{fd}
}

func icmpOnly(key, node string, pod reach, ev []string) (Finding, bool) {
	if pod.pingFailed && pod.otherOK {
		return Finding{Severity: Info, Cause: CauseICMPBlocked, Target: key, Nodes: []string{node},
			Summary:  "ping fails but TCP/HTTP works: ICMP is filtered on the way, the target is reachable",
			Evidence: ev}, true
	}
	return Finding{}, false
}

// bothFail: this node fails from both sides while another node succeeds.
func bothFail(t target.Target, key string, n observe.Node, f *observe.TargetFacts, host reach, good *observe.Route, someOK bool, ev []string) Finding {
	fd := Finding{Severity: Error, Target: key, Nodes: []string{n.Name}, Evidence: ev}
	if f != nil {
		fd.Evidence = append(fd.Evidence, routeEvidence(n.Name, f.NodeRoute))
	}
	missing := f != nil && (f.NodeRoute.Err != "" || (good != nil && !good.Default && f.NodeRoute.Default))
	if missing {
		fd.Cause = CauseMissingRoute
		fd.Summary = "the node has no route to the target (other nodes have one): pods and the node itself fail"
		if good != nil {
			fd.Evidence = append(fd.Evidence, "a healthy node routes it: "+good.Line)
		}
		fd.Fix = routeFix(routeDst(t, good), good)
		if f != nil && f.NodeRoute.Err != "" && good == nil && flowAddr(t, f).Is6() {
			fd.Fix[0] = strings.Replace(fd.Fix[0], "ip route add", "ip -6 route add", 1)
		}
		return fd
	}
	fd.Cause = CauseNodeLocal
	fd.Summary = "this node and its pods fail while other nodes reach the target, with a route present: a firewall on the node (OUTPUT/FORWARD) or a wrong route/next hop on this node"
	if good != nil && f != nil && f.NodeRoute.Via != good.Via {
		fd.Candidates = append(fd.Candidates, fmt.Sprintf("next hop differs from a healthy node's (%q vs %q)", f.NodeRoute.Line, good.Line))
	}
	fd.Fix = []string{"compare `iptables-save` and `ip route` on this node with a healthy node's"}
	return fd
}

// routeDst is what the route should cover: the healthy nodes' route entry,
// else the CIDR the user named, else the address.
func routeDst(t target.Target, good *observe.Route) string {
	if good != nil && good.Match != "" && !good.Default {
		return good.Match
	}
	return cidrOf(t)
}

func routeFix(dst string, good *observe.Route) []string {
	ip := "ip"
	if strings.Contains(dst, ":") {
		ip = "ip -6"
	}
	if good != nil && good.Via != "" {
		return []string{
			fmt.Sprintf("%s route add %s via %s dev %s", ip, dst, good.Via, facts.ShellQuote(good.Dev)),
			"persist it in the node's network config (e.g. a `routes:` entry in netplan, a post-up line in /etc/network/interfaces) or with a DaemonSet that re-adds it",
		}
	}
	return []string{fmt.Sprintf("%s route add %s via <gateway> dev <interface>", ip, dst),
		"persist it in the node's network config or with a DaemonSet"}
}

// podOnlyFails is the heart of the diagnosis: the node reaches the target,
// its pods do not. The facts decide between forwarding, firewall, route,
// NAT and DNS, in the order in which a packet meets them.
func podOnlyFails(t target.Target, key string, n observe.Node, pod reach, f *observe.TargetFacts, in ExternalInput, ev []string) Finding {
	fd := Finding{Severity: Error, Target: key, Nodes: []string{n.Name}, Evidence: ev}
	dst := flowAddr(t, f)
	v6 := dst.Is6()
	// The flow's family decides which of a dual-stack pod's addresses and
	// ranges it left from, and which forwarding setting it needs.
	podCIDR := familyCIDR(n.Facts.PodCIDRs, v6)
	if podCIDR == "" {
		podCIDR = strings.Join(n.Facts.PodCIDRs, ",")
	}
	podIP := n.Pod.IPFor(dst)
	if pod.dnsFailed && !pod.ok && t.IsName() {
		if fwd, ok := in.Forwards[t.Host]; ok {
			if st, ok := externalStub(t, key, n, fwd); ok {
				sf := stubFinding(t.Host, fwd, fd.Nodes, st, append(ev, st.evidence...))
				sf.Target = key
				return sf
			}
		}
		fd.Cause = CauseDNS
		fd.Summary = fmt.Sprintf("the node resolves %s but pods do not: cluster DNS (CoreDNS) cannot answer for this name", t.Host)
		fd.Fix = []string{"kubectl -n kube-system get configmap coredns -o yaml   # check the forward/stub-domain for this zone",
			"kubectl netcheck dns   # CoreDNS health end to end"}
		return fd
	}
	if off, ok := forwardingOff(n, v6); ok {
		fd.Cause = CauseIPForwardOff
		fd.Summary = strings.Replace(off.Summary, " is off:", " is off on the node:", 1)
		fd.Evidence = append(fd.Evidence, off.Evidence...)
		if f != nil && f.PodRoute != nil {
			fd.Evidence = append(fd.Evidence, routeEvidence(n.Name, *f.PodRoute)+"   (the kernel refuses to forward pod traffic)")
		}
		fd.Candidates = append(fd.Candidates, "CNI plugins such as bridge turn forwarding back on when a pod starts: if it keeps going off, something on the node (a sysctl.d file, a hardening agent) resets it")
		fd.Fix = off.Fix
		return fd
	}
	if f == nil {
		fd.Cause = CauseInconclusive
		fd.Summary = "pods fail while the node reaches the target, and the node's facts could not be read"
		fd.Candidates = []string{string(CauseMissingNAT), string(CauseForwardDrop), string(CauseNetworkPolicy)}
		return fd
	}
	if f.PodRoute != nil {
		fd.Evidence = append(fd.Evidence, routeEvidence(n.Name, *f.PodRoute))
	}
	if f.Forward.Result == observe.No {
		fd.Cause = CauseForwardDrop
		fd.Summary = "the node's firewall drops pod traffic in the FORWARD chain"
		if r := f.Forward.Rule; r != nil {
			fd.Summary = fmt.Sprintf("the node's firewall drops pod traffic: nftables table %s %s, chain %s, on the forward hook", r.Family, r.Table, r.Chain)
		}
		fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "filter FORWARD", f.Forward)...)
		fd.Evidence = append(fd.Evidence, conntrackEvidence(n.Name, f, podIP, "no entry for the pod's flow: dropped before conntrack confirmed it, in the forwarding path")...)
		fd.Fix = forwardFix(f.Forward, podCIDR)
		return fd
	}
	if f.PodRoute != nil && f.PodRoute.Err != "" {
		fd.Cause = CauseMissingRoute
		fd.Summary = "the node has no route for pod traffic to the target (policy routing or an unreachable route for forwarded packets)"
		fd.Fix = []string{"ip rule show; ip route show table all   # look for rules that send forwarded pod traffic to another table"}
		return fd
	}
	natNo := f.NAT.Result == observe.No
	ctNoSNAT, ctSNATUnreplied := false, false
	for _, e := range f.Conntrack {
		if e.Unreplied && !e.Natted() {
			ctNoSNAT = true
		}
		if e.Unreplied && e.Natted() {
			ctSNATUnreplied = true
		}
	}
	if natNo || (f.NAT.Result == observe.Unknown && ctNoSNAT) {
		fd.Cause = CauseMissingNAT
		fd.Summary = fmt.Sprintf("pod traffic leaves the node with the pod's own address (%s), not masqueraded to the node's: the target's replies have no way back to the pod network", podIP)
		fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "nat POSTROUTING", f.NAT)...)
		fd.Evidence = append(fd.Evidence, conntrackEvidence(n.Name, f, podIP, "")...)
		if f.NAT.Result == observe.Unknown {
			fd.Candidates = append(fd.Candidates, "the NAT rules could not be fully judged; the conntrack entry (reply addressed to the pod IP) is the witness")
		}
		fd.Fix = natFix(t, dst, podCIDR, f, n)
		return fd
	}
	if ctSNATUnreplied {
		fd.Cause = CauseBeyondNode
		fd.Summary = "the node masquerades the pod's traffic but no reply comes back: something beyond the node treats forwarded traffic differently from the node's own (upstream firewall, source-port or conntrack limits)"
		fd.Evidence = append(fd.Evidence, conntrackEvidence(n.Name, f, podIP, "")...)
		return fd
	}
	if f.ConntrackRead && len(f.Conntrack) == 0 && f.NAT.Result == observe.Yes && f.Forward.Result == observe.Yes {
		return unseenDrop(fd, n, f, podIP)
	}
	fd.Cause = CauseInconclusive
	fd.Summary = "pods fail while the node reaches the target, and the node's route, FORWARD and NAT rules look right"
	fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "filter FORWARD", f.Forward)...)
	fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "nat POSTROUTING", f.NAT)...)
	fd.Evidence = append(fd.Evidence, conntrackEvidence(n.Name, f, podIP, "")...)
	fd.Candidates = []string{"CNI egress policy (Calico/Cilium policies are not iptables rules)", "an eBPF datapath the iptables view does not show",
		"the upstream needs a route back to the pod CIDR " + podCIDR}
	if f.NAT.Result == observe.Unknown || f.Forward.Result == observe.Unknown {
		fd.Candidates = append([]string{"rules the evaluator could not judge (see evidence)"}, fd.Candidates...)
	}
	return fd
}

// flowAddr is the address a target's flow went to: the target's own, else
// its name's as the node resolved it (invalid when unknown).
func flowAddr(t target.Target, f *observe.TargetFacts) netip.Addr {
	if t.Addr.IsValid() {
		return t.Addr
	}
	if f != nil {
		if a, err := netip.ParseAddr(f.Addr); err == nil {
			return a
		}
	}
	return netip.Addr{}
}
