package diagnose

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes `netcheck dns` names.
const (
	CauseDNSNoEndpoints Cause = "dns-no-endpoints"
	CauseDNSServicePath Cause = "dns-service-path"
	CauseDNSPodPath     Cause = "dns-pod-path"
	CauseDNSBroken      Cause = "dns-server-broken"
	CauseResolvConf     Cause = "resolv-conf"
	// Some DNS pods answer this node's pods, others do not: the Service
	// spreads lookups over all of them, so a share fails (or waits out a
	// retry) — the intermittent kind of DNS trouble.
	CauseDNSReplicaUnreachable Cause = "dns-replica-unreachable"
)

// DNSServer is one cluster DNS pod as the API shows it.
type DNSServer struct {
	Name string `json:"name"`
	Node string `json:"node"`
	IP   string `json:"ip"`
	// Other is its address of the cluster's second family (status.podIPs),
	// on dual-stack clusters.
	Other    string `json:"otherIP,omitempty"`
	Ready    bool   `json:"ready"`
	Restarts int32  `json:"restarts"`
	Reason   string `json:"reason,omitempty"` // e.g. CrashLoopBackOff
	// Loop is the loop plugin's fatal line from its previous run's log;
	// LogErr why that log could not be read.
	Loop   string `json:"loop,omitempty"`
	LogErr string `json:"logError,omitempty"`
}

// state is "ready", or "not ready" with the container's waiting reason.
func (s DNSServer) state() string {
	if s.Ready {
		return "ready"
	}
	if s.Reason != "" {
		return "not ready (" + s.Reason + ")"
	}
	return "not ready"
}

// DNSInput is what `netcheck dns` observed.
type DNSInput struct {
	Service   string // namespace/name of the DNS Service
	ClusterIP string
	Name      string // the name every probe resolves
	// Outside is a name outside the cluster (--outside); Forward is where
	// CoreDNS's Corefile sends such names.
	Outside string
	Forward Forward
	Servers []DNSServer
	Nodes   []observe.Node
	// ServiceIPs are all the DNS Service's ClusterIPs (spec.clusterIPs):
	// a dual-stack Service has one per family.
	ServiceIPs []string
	// AAAA is the name asked for its AAAA records on a dual-stack cluster
	// (nil: none), and Corefile the DNS pods' configuration, read there.
	AAAA     *DNSAAAA
	Corefile Corefile
	// NodeLocal is the NodeLocal DNSCache in front of cluster DNS, where
	// one runs (nil: none).
	NodeLocal *NodeLocal
}

// DNSServiceKey is the key of a query sent to the DNS Service IP.
func DNSServiceKey(ip string) observe.CheckID {
	return observe.NewCheckID(observe.RoleDNSService, ip, 0)
}

// DNSPodKey is the key of a query sent to one DNS pod directly.
func DNSPodKey(ip string) observe.CheckID { return observe.NewCheckID(observe.RoleDNSPod, ip, 0) }

// DNSResolvKey identifies the resolv.conf check.
var DNSResolvKey = observe.NewCheckID(observe.RoleResolvConf, "", 0)

// DNS diagnoses cluster DNS end to end: the Service and its pods from the
// API, then, from a pod on every node, the Service IP against each DNS pod
// queried directly — which tells the Service path from the pod path from
// the server itself.
func DNS(in DNSInput) []Finding {
	var out []Finding
	var ready []DNSServer
	var servers []string
	for _, s := range in.Servers {
		state := s.state()
		ip := s.IP
		if ip == "" {
			ip = "no IP"
		}
		line := fmt.Sprintf("%s on %s, %s, %s, %d restarts", s.Name, s.Node, ip, state, s.Restarts)
		if s.LogErr != "" {
			line += "; its previous log not read: " + s.LogErr
		}
		servers = append(servers, line)
		if s.Ready {
			ready = append(ready, s)
		}
	}
	loop, looped := forwardLoop(in, servers)
	if looped && len(ready) == 0 {
		loop.Summary = "no cluster DNS server is ready: " + loop.Summary
		return []Finding{loop}
	}
	if looped {
		out = append(out, loop)
	}
	if len(ready) == 0 {
		ev := append([]string{fmt.Sprintf("Service %s (%s) has no ready endpoint", in.Service, in.ClusterIP)}, servers...)
		if len(servers) == 0 {
			ev = append(ev, "no DNS pod matches the Service's selector")
		}
		return []Finding{{Severity: Error, Cause: CauseDNSNoEndpoints,
			Summary:  "no cluster DNS server is ready: every name lookup in every pod fails",
			Evidence: ev,
			Fix: []string{"kubectl -n kube-system get deploy,pods -l k8s-app=kube-dns",
				"kubectl -n kube-system scale deployment coredns --replicas=2   # if it was scaled to 0",
				"kubectl -n kube-system logs -l k8s-app=kube-dns --previous   # if it crashes"}}}
	}
	svcKey := DNSServiceKey(in.ClusterIP)
	allPodFail := true
	anyRan := false
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		anyRan = true
		for _, s := range ready {
			if c := check(n.Pod.Checks, DNSPodKey(s.IP)); c != nil && c.Outcome == observe.OK {
				allPodFail = false
			}
		}
	}
	if anyRan && allPodFail {
		if looped {
			// Restarted and Ready again, the pod loops again: the loop,
			// already in out, is why it answers nobody.
			return out
		}
		return append(out, Finding{Severity: Error, Cause: CauseDNSBroken,
			Summary:  "the DNS pods are Ready but answer no pod on any node: the server itself is broken (config, upstream loop, resource limits)",
			Evidence: servers,
			Fix:      []string{"kubectl -n kube-system logs -l k8s-app=kube-dns", "kubectl -n kube-system get configmap coredns -o yaml"}})
	}
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		node := []string{n.Name}
		var ev []string
		svc := check(n.Pod.Checks, svcKey)
		if svc != nil {
			ev = append(ev, describeCheck("pod@"+n.Name, *svc))
		}
		var okPods, failPods []string
		var unreachable []DNSServer
		for _, s := range ready {
			c := check(n.Pod.Checks, DNSPodKey(s.IP))
			if c == nil {
				continue
			}
			ev = append(ev, describeCheck("pod@"+n.Name, *c)+" (DNS pod on "+s.Node+")")
			if c.Outcome == observe.OK {
				okPods = append(okPods, s.Node)
			} else {
				failPods = append(failPods, s.Node)
				unreachable = append(unreachable, s)
			}
		}
		if rc := check(n.Pod.Checks, DNSResolvKey); rc != nil && rc.Outcome == observe.OK && in.ClusterIP != "" && !contains(rc.Resolved, in.ClusterIP) && !in.toCache(rc.Resolved) {
			f := Finding{Severity: Error, Cause: CauseResolvConf, Nodes: node,
				Summary:  fmt.Sprintf("pods on this node are not told to use the cluster DNS %s", in.ClusterIP),
				Evidence: []string{"pod@" + n.Name + ": /etc/resolv.conf: " + rc.Detail},
				Fix:      []string{fmt.Sprintf("set the kubelet's clusterDNS to [%s] (KubeletConfiguration) and restart it", in.ClusterIP)}}
			if n.Pod.As != "" {
				// The workload's own resolv.conf: its pod spec decides, not the kubelet.
				f.Summary = fmt.Sprintf("the workload's pods are not told to use the cluster DNS %s: their pod spec's dnsPolicy/dnsConfig says otherwise", in.ClusterIP)
				f.Evidence = append(f.Evidence, "pod@"+n.Name+": ran as "+n.Pod.As)
				f.Fix = []string{fmt.Sprintf("in the workload's pod template: dnsPolicy: ClusterFirst (or %s in dnsConfig.nameservers with dnsPolicy: None); its pods take it when they are replaced", in.ClusterIP)}
			}
			out = append(out, f)
		}
		switch {
		case len(okPods) > 0 && len(unreachable) > 0:
			// Whatever the Service answered this time, it balances onto
			// the unreachable pods too: that, not the Service path, is the fault.
			out = append(out, replicaUnreachable(n, unreachable, len(okPods)+len(unreachable), in, ev))
		case svc == nil || svc.Outcome == observe.OK:
		case len(okPods) > 0:
			out = append(out, Finding{Severity: Error, Cause: CauseDNSServicePath, Nodes: node,
				Summary:  fmt.Sprintf("DNS pods answer this node's pods directly but the Service IP %s does not: the Service path on this node (kube-proxy rules) is broken", in.ClusterIP),
				Evidence: ev,
				Fix: []string{"kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide   # is it running on " + n.Name + "?",
					"on the node: iptables-save -t nat | grep " + in.ClusterIP + "   # the KUBE-SERVICES rule must exist"}})
		default:
			fd := Finding{Severity: Error, Cause: CauseDNSPodPath, Nodes: node,
				Summary:  "pods on this node reach no DNS pod (on " + strings.Join(uniq(failPods), ", ") + "): the path from this node's pods to the DNS pods is broken",
				Evidence: ev}
			if sample := factsFor(n, SampleKey); sample != nil && sample.Forward.Result == observe.No {
				fd.Cause = CauseForwardDrop
				fd.Summary = "the node's FORWARD chain drops its pods' traffic, DNS included (the Docker FORWARD DROP trap)"
				fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "filter FORWARD", sample.Forward)...)
				fd.Fix = forwardFix(sample.Forward, flowCIDR(n.Facts.PodCIDRs, *sample))
			} else {
				fd.Candidates = []string{"a missing route to the DNS pods' node podCIDR (ip route on " + n.Name + ")", "an overlay port blocked between nodes", "a NetworkPolicy in kube-system"}
			}
			out = append(out, fd)
		}
	}
	out = append(out, dnsFamily(in, ready)...)
	out = append(out, dnsNodeLocal(in, ready)...)
	return merge(append(out, dnsUpstream(in)...))
}

// replicaUnreachable: pods on n reach some DNS pods and not these. The
// facts of the nodes those pods run on say whether their FORWARD chain is
// what drops the lookups; else the candidates are the path between the nodes.
func replicaUnreachable(n observe.Node, bad []DNSServer, total int, in DNSInput, ev []string) Finding {
	var where, names []string
	for _, s := range bad {
		where = append(where, s.Name+" on "+s.Node+" ("+s.IP+")")
		names = append(names, s.Node)
	}
	fd := Finding{Severity: Error, Cause: CauseDNSReplicaUnreachable, Nodes: []string{n.Name},
		Summary: fmt.Sprintf("pods on this node reach %d of %d DNS pods, not %s: the Service %s sends them a share of all lookups, which fail or wait out a retry",
			total-len(bad), total, strings.Join(where, ", "), in.ClusterIP),
		Evidence: ev}
	if own := factsFor(n, SampleKey); own != nil && own.Forward.Result == observe.No {
		// This node's own FORWARD chain: its pods reach only the DNS pods beside them.
		fd.Cause = CauseForwardDrop
		fd.Summary = "the node's FORWARD chain drops its pods' traffic to DNS pods on other nodes (" + strings.Join(where, ", ") + "); only those on this node answer"
		fd.Evidence = append(fd.Evidence, verdictEvidence(n.Name, "filter FORWARD", own.Forward)...)
		fd.Fix = forwardFix(own.Forward, flowCIDR(n.Facts.PodCIDRs, *own))
		return fd
	}
	for _, s := range bad {
		for _, m := range in.Nodes {
			if m.Name != s.Node || m.Name == n.Name {
				continue
			}
			if f := factsFor(m, SampleKey); f != nil && f.Forward.Result == observe.No {
				fd.Summary += fmt.Sprintf("; %s's FORWARD chain drops the traffic it forwards to its pods", m.Name)
				fd.Evidence = append(fd.Evidence, verdictEvidence(m.Name, "filter FORWARD", f.Forward)...)
				// Both ways: the lookups come in to its pods, not out of them.
				for _, l := range facts.FixerFor(f.Forward.Datapath).AllowForward(f.Forward, flowCIDR(m.Facts.PodCIDRs, *f), true) {
					if !strings.Contains(l, "#") {
						l += "   # on " + m.Name
					}
					fd.Fix = append(fd.Fix, l)
				}
			}
		}
	}
	if len(fd.Fix) == 0 {
		fd.Candidates = []string{
			"a missing route from " + n.Name + " to the podCIDR of " + strings.Join(uniq(names), ", ") + " (ip route on " + n.Name + ")",
			"a FORWARD or INPUT rule on " + strings.Join(uniq(names), ", ") + " dropping traffic to its pods",
			"an overlay port blocked between " + n.Name + " and " + strings.Join(uniq(names), ", "),
			"a NetworkPolicy in kube-system selecting the DNS pods",
		}
		fd.Fix = []string{"kubectl netcheck pods   # the pod path between every pair of nodes, " + n.Name + " included"}
	}
	return fd
}

// toCache: the resolv.conf names NodeLocal DNSCache's address — the
// kubelet's clusterDNS where the cache is set up that way — or, where no
// cache was found, a link-local address, which only a node-local cache
// listens at (NodeLocalUnseen says so).
func (in DNSInput) toCache(nameservers []string) bool {
	if in.NodeLocal != nil {
		return contains(nameservers, in.NodeLocal.Addr)
	}
	return linkLocal(nameservers) != ""
}

// linkLocal is the first IPv4 link-local nameserver (169.254.0.0/16).
func linkLocal(nameservers []string) string {
	for _, ns := range nameservers {
		if a, err := netip.ParseAddr(ns); err == nil && a.Is4() && a.IsLinkLocalUnicast() {
			return a.String()
		}
	}
	return ""
}

func check(cs []observe.Check, id observe.CheckID) *observe.Check {
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i]
		}
	}
	return nil
}

func uniq(xs []string) []string {
	m := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
