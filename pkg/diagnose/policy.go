package diagnose

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// CausePolicyNotEnforced is a flow the NetworkPolicies deny that passed
// anyway: the CNI does not enforce them, or enforces something else.
const CausePolicyNotEnforced Cause = "network-policy-not-enforced"

// Set is every policy the evaluator weighs.
func (p Policies) Set() netpol.Set { return netpol.Set{Network: p.List, Cluster: p.Cluster} }

// Policies is what the API says about NetworkPolicy, for the verdicts.
type Policies struct {
	// Read says the policies were listed; without it nothing is judged.
	Read bool
	List []networkingv1.NetworkPolicy
	// Cluster are the cluster-scoped policies (network-policy-api) read.
	Cluster []netpol.ClusterPolicy
	// Clients maps each node to the identity its pod side ran as: the
	// workload's pod (--from) or the pod probe.
	Clients map[string]netpol.Pod
	// AsWorkload: the pod side ran as the user's workload (--from).
	AsWorkload bool
	// Pods are the destination pods by IP (a Service's backends).
	Pods map[string]netpol.Pod
}

// PolicySettle is how long a pod probe that policies select waits after
// it is Ready before its checks. Policy agents program a new pod's rules
// after it starts (kube-router's sync, Calico's Felix): on the lab a new
// pod under a default-deny policy passed traffic for 0.3–0.8 s after its
// start, and a check in that window read as "not enforced".
const PolicySettle = 3 * time.Second

// ProbeSettle is the wait the pod probes need: PolicySettle when some
// policy selects them; none when they run as the workload (--from: its
// pods are long programmed) or no policy was read.
func (p Policies) ProbeSettle() time.Duration {
	if !p.Read || p.AsWorkload {
		return 0
	}
	s := p.Set()
	for _, c := range p.Clients {
		if s.Selects(c) {
			return PolicySettle
		}
	}
	return 0
}

// egressTo judges the pod side's flow from node to the target's address.
func (p Policies) egressTo(node string, podIP string, t target.Target, port int) (netpol.Verdict, netpol.Flow, bool) {
	client, ok := p.Clients[node]
	if !p.Read || !ok || !t.Addr.IsValid() {
		return netpol.Verdict{}, netpol.Flow{}, false
	}
	from, _ := netip.ParseAddr(podIP)
	f := netpol.Flow{From: netpol.Peer{Pod: &client, IP: from}, To: netpol.Peer{IP: t.Addr}, Port: t.PortOr(port), Protocol: corev1.ProtocolTCP}
	if f.Port == 0 {
		// A ping: ICMP, which only rules without ports admit.
		f.Protocol = "ICMP"
	}
	return netpol.Evaluate(p.Set(), f), f, true
}

// icmpDenied names the policies that deny the side's ping to the target
// ("" when they allow it or were not read).
func (p Policies) icmpDenied(node, podIP string, t target.Target) string {
	t.Port = 0
	v, _, ok := p.egressTo(node, podIP, t, 0)
	if !ok || v.Allowed() {
		return ""
	}
	return policyWords(v.Egress)
}

// policyDenied is the finding for a flow the policies deny, naming the
// policies, the direction, the closest rule and the smallest policy that
// allows exactly the flow.
func policyDenied(fd Finding, v netpol.Verdict, f netpol.Flow, p Policies) Finding {
	dir, d := networkingv1.PolicyTypeEgress, v.Egress
	side := "egress of " + who(f.From)
	if !v.Ingress.Allowed && v.Egress.Allowed {
		dir, d, side = networkingv1.PolicyTypeIngress, v.Ingress, "ingress of "+who(f.To)
	}
	fd.Cause, fd.Severity = CauseNetworkPolicy, Error
	if d.Cluster != nil {
		return clusterDenied(fd, *d.Cluster, dir, side, f, p)
	}
	fd.Summary = fmt.Sprintf("NetworkPolicy %s selects %s and no rule admits %s: the policy blocks it", strings.Join(d.Isolating, ", "), side, flowWords(f))
	fd.Evidence = append(fd.Evidence, fmt.Sprintf("policies isolating the %s: %s", side, strings.Join(d.Isolating, ", ")))
	if f.From.Pod != nil && f.From.Pod.Name != ProbeClient {
		fd.Evidence = append(fd.Evidence, fmt.Sprintf("client: pod %s/%s (%s)", f.From.Pod.Namespace, f.From.Pod.Name, f.From.IP))
	}
	for _, pass := range d.Passed {
		fd.Evidence = append(fd.Evidence, "handed to NetworkPolicy by "+pass)
	}
	if c := d.Closest; c != nil {
		fd.Evidence = append(fd.Evidence, fmt.Sprintf("closest rule: %s %s[%d]: %s", c.Policy, strings.ToLower(string(dir)), c.Rule, c.Why))
	} else {
		fd.Evidence = append(fd.Evidence, "the policies have no "+strings.ToLower(string(dir))+" rule at all (default deny)")
	}
	if !p.AsWorkload && (dir == networkingv1.PolicyTypeEgress || toProbe(f)) {
		fd.Summary = fmt.Sprintf("NetworkPolicy %s in the probe's own namespace blocks the probe (%s): this result is about the probe, not your workloads", strings.Join(d.Isolating, ", "), flowWords(f))
		fd.Fix = []string{"run with --probe-namespace set to a namespace without such policies, or with --from <your workload> to test as it"}
		return fd
	}
	if !p.AsWorkload {
		// The backend's ingress policy refuses the probe: whether it admits the
		// real clients is the question; test as one.
		fd.Fix = []string{"if your clients should reach it and the rule above does not admit them, add a rule for them; check as a real client with --from <its workload> (in its namespace, -n)"}
		if np := netpol.Allow(f, dir); np != nil {
			fd.Fix = append(fd.Fix, "to admit exactly this probe's flow (for a test only):\n"+netpol.ApplyCommand(np))
		}
		return fd
	}
	if np := netpol.Allow(f, dir); np != nil {
		fd.Fix = []string{"if the flow should be allowed, add a policy that admits exactly it (policies add up; nothing else opens):\n" + netpol.ApplyCommand(np)}
	}
	return fd
}

// clusterDenied is the finding for a flow a cluster-scoped rule denies: an
// Admin rule before any NetworkPolicy, or a Baseline rule when none selects
// the pod. Only a cluster admin changes these; the fix says which rule and
// inserts one that admits exactly the flow before it.
func clusterDenied(fd Finding, c netpol.Decision, dir networkingv1.PolicyType, side string, f netpol.Flow, p Policies) Finding {
	order := "it comes before every NetworkPolicy: no NetworkPolicy can open it"
	if c.Policy.Tier == netpol.TierBaseline {
		order = "no NetworkPolicy selects the pod for this direction, so the baseline decides"
	}
	fd.Summary = fmt.Sprintf("%s denies %s (%s): %s", c.Policy.Ref(), flowWords(f), side, order)
	fd.Evidence = append(fd.Evidence, "deciding rule: "+c.String())
	if f.From.Pod != nil && f.From.Pod.Name != ProbeClient {
		fd.Evidence = append(fd.Evidence, fmt.Sprintf("client: pod %s/%s (%s)", f.From.Pod.Namespace, f.From.Pod.Name, f.From.IP))
	}
	if !p.AsWorkload && (dir == networkingv1.PolicyTypeEgress || toProbe(f)) {
		fd.Summary = fmt.Sprintf("%s denies the probe's own traffic (%s): this result is about the probe in its namespace, not your workloads", c.Policy.Ref(), flowWords(f))
		fd.Fix = []string{"run with --probe-namespace set to a namespace the policy does not select, or with --from <your workload> to test as it"}
		return fd
	}
	fd.Fix = []string{fmt.Sprintf("kubectl get %s %s -o yaml   # cluster-scoped: changing it needs a cluster admin", strings.ToLower(c.Policy.Kind), c.Policy.Name)}
	if cmd := netpol.ClusterAllowCommand(c, f, dir); cmd != "" {
		fd.Fix = append(fd.Fix, "if the flow should be allowed, insert a rule that admits exactly it before the deciding one:\n"+cmd)
	}
	return fd
}

// policyNotEnforced: the policies deny the flow, the probe passed.
func policyNotEnforced(key, node string, v netpol.Verdict, f netpol.Flow) Finding {
	d := v.Egress
	if d.Allowed {
		d = v.Ingress
	}
	if c := d.Cluster; c != nil {
		fd := Finding{Severity: Warning, Cause: CausePolicyNotEnforced, Target: key, Nodes: []string{node},
			Summary:  fmt.Sprintf("%s should deny %s, but it passed: the network plugin does not enforce %s (or enforces other rules)", c.Policy.Ref(), flowWords(f), c.Policy.Kind),
			Evidence: []string{"deciding rule: " + c.String()},
			Fix:      []string{"check that the CNI implements " + c.Policy.Kind + " (sigs.k8s.io/network-policy-api): its implementations list the API versions they serve; an object of a version it does not watch is ignored"}}
		dir := networkingv1.PolicyTypeEgress
		if v.Egress.Allowed {
			dir = networkingv1.PolicyTypeIngress
		}
		if cmd := netpol.ClusterAllowCommand(*c, f, dir); cmd != "" {
			fd.Fix = append(fd.Fix, "or, if the flow is meant to pass, say so in the policy: insert a rule that admits exactly it before the deciding one:\n"+cmd)
		}
		return fd
	}
	return Finding{Severity: Warning, Cause: CausePolicyNotEnforced, Target: key, Nodes: []string{node},
		Summary: fmt.Sprintf("NetworkPolicy %s should block %s, but it passed: the network plugin does not enforce NetworkPolicies (or enforces other rules)", strings.Join(d.Isolating, ", "), flowWords(f)),
		Fix:     []string{"check that the CNI enforces NetworkPolicy (bridge, flannel and host-gw alone do not; Calico, Cilium, kube-router's firewall, Antrea do)"}}
}

// policyWords names what decided a direction: "NetworkPolicy a/b" or the
// cluster policy's kind/name.
func policyWords(d netpol.Direction) string {
	if d.Cluster != nil {
		return d.Cluster.Policy.Ref()
	}
	return "NetworkPolicy " + strings.Join(d.Isolating, ", ")
}

// who names a peer the same way on every node: a workload's pods by their
// stable labels (the pod itself is in the evidence), the probe as the probe.
func who(p netpol.Peer) string {
	switch {
	case p.Pod == nil:
		return p.IP.String()
	case p.Pod.Name == ProbeClient:
		return "the pod probe in namespace " + p.Pod.Namespace
	}
	l := netpol.StableLabels(p.Pod.Labels)
	if len(l) == 0 {
		return "pod " + p.Pod.Namespace + "/" + p.Pod.Name
	}
	return fmt.Sprintf("pods %s of namespace %s", labels.SelectorFromSet(l), p.Pod.Namespace)
}

// toProbe: the flow's destination is a pod probe (pods, without --from).
func toProbe(f netpol.Flow) bool { return f.To.Pod != nil && f.To.Pod.Name == ProbeClient }

// ProbeClient is the name the pod probe goes by among the clients.
const ProbeClient = "(pod probe)"

func flowWords(f netpol.Flow) string {
	to := who(f.To)
	if f.Protocol == "ICMP" {
		return fmt.Sprintf("ICMP from %s to %s", who(f.From), to)
	}
	return fmt.Sprintf("%s/%d from %s to %s", f.Protocol, f.Port, who(f.From), to)
}

// toPod judges the flow from node's pod side to a destination pod.
func (p Policies) toPod(node, podIP, dstIP string, port int) (netpol.Verdict, netpol.Flow, bool) {
	client, ok := p.Clients[node]
	dst, known := p.Pods[dstIP]
	if !p.Read || !ok || !known {
		return netpol.Verdict{}, netpol.Flow{}, false
	}
	from, _ := netip.ParseAddr(podIP)
	to, _ := netip.ParseAddr(dstIP)
	f := netpol.Flow{From: netpol.Peer{Pod: &client, IP: from}, To: netpol.Peer{Pod: &dst, IP: to}, Port: port, Protocol: corev1.ProtocolTCP}
	return netpol.Evaluate(p.Set(), f), f, true
}

// policyEndpoints: endpoints lost or refused from a node whose flow the policies deny
// are the policy's doing (one finding per blocking policy set, with the
// nodes and endpoints); flows they deny that passed anyway say the CNI does
// not enforce them. The denied (node, endpoint) pairs leave the views: the
// path verdicts are about what the policies allow.
func policyEndpoints(in ServiceInput, views []epView) ([]Finding, []epView) {
	byNode := map[string]observe.Node{}
	for _, n := range in.Nodes {
		byNode[n.Name] = n
	}
	type blocked struct {
		fd    Finding
		head  string // "NetworkPolicy a/b selects ingress of", for the group's summary
		words string // the flow's protocol, port and clients' namespace
		nodes map[string]bool
		eps   map[string]bool
	}
	var order []string
	found := map[string]*blocked{}
	var out []Finding
	notEnforced := false
	kept := make([]epView, 0, len(views))
	for _, v := range views {
		// Lost, or refused: an enforcer's REJECT reads as the backend's refusal.
		var lost, refused []string
		for _, node := range append(append([]string(nil), v.lost...), v.refused...) {
			verdict, flow, ok := in.Policies.toPod(node, sourceFor(byNode[node].Pod, v.e.IP), v.e.IP, int(v.e.Port))
			if !ok || verdict.Allowed() {
				if contains(v.lost, node) {
					lost = append(lost, node)
				} else {
					refused = append(refused, node)
				}
				continue
			}
			fd := policyDenied(Finding{Target: in.ref()}, verdict, flow, in.Policies)
			d := verdict.Ingress
			if !verdict.Egress.Allowed {
				d = verdict.Egress
			}
			key := d.Deciders() + "|" + flow.From.Pod.Namespace
			if b := found[key]; b != nil {
				b.nodes[node], b.eps[v.e.who()] = true, true
				continue
			}
			fd.Evidence = append([]string{v.ev[node]}, fd.Evidence...)
			dir := "ingress"
			if !verdict.Egress.Allowed {
				dir = "egress"
			}
			found[key] = &blocked{fd: fd, nodes: map[string]bool{node: true}, eps: map[string]bool{v.e.who(): true},
				head:  fmt.Sprintf("%s (%s)", policyWords(d), dir),
				words: fmt.Sprintf("%s/%d from namespace %s", flow.Protocol, flow.Port, flow.From.Pod.Namespace)}
			order = append(order, key)
		}
		for _, node := range v.ok {
			if verdict, flow, ok := in.Policies.toPod(node, sourceFor(byNode[node].Pod, v.e.IP), v.e.IP, int(v.e.Port)); ok && !verdict.Allowed() && !notEnforced {
				notEnforced = true
				out = append(out, policyNotEnforced(in.ref(), node, verdict, flow))
			}
		}
		v.lost, v.refused = lost, refused
		kept = append(kept, v)
	}
	for _, key := range order {
		b := found[key]
		b.fd.Nodes = sortedKeys(b.nodes)
		if len(b.eps) > 1 || len(b.nodes) > 1 {
			// One verdict for the group: the same policies, the same clients' namespace.
			b.fd.Summary = fmt.Sprintf("%s blocks %s to the Service's endpoints %s: no rule admits it", b.head, b.words, strings.Join(sortedKeys(b.eps), ", "))
		}
		out = append(out, b.fd)
	}
	return out, kept
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nodePortPolicies: a node's own NodePort was refused or lost, and the
// backends' ingress policies do not admit the nodes' addresses — the source
// kube-proxy gives NodePort traffic it sends to a backend on another node.
// Every node whose address the policies refuse is named, also those whose
// one check happened to land on a local backend: the verdict is the
// policy's, the failed check its witness. Nil when no check failed so.
func nodePortPolicies(in ServiceInput, ran []observe.Node) *Finding {
	var out *Finding
	var rule []string // the closest rule, said once after the nodes' checks
	witnessed := false
	for _, n := range ran {
		np := check(n.Host.Checks, SvcNodePortKey(n.IP, in.Port.NodePort))
		if np == nil {
			continue
		}
		f := nodePortPolicy(in, n)
		if f == nil {
			continue
		}
		ev := fmt.Sprintf("node@%s tcp nodeport %s:%d: %s", n.Name, n.IP, in.Port.NodePort, np.Outcome)
		if np.Outcome == observe.Refused || np.Outcome.Failed() {
			witnessed = true
		} else {
			ev += " (balanced, this once, to a backend that admits it: one on this node)"
		}
		if out == nil {
			out, rule = f, f.Evidence
			out.Evidence = nil
		} else {
			out.Nodes = append(out.Nodes, n.Name)
		}
		out.Evidence = append(out.Evidence, ev)
	}
	if !witnessed {
		return nil
	}
	out.Evidence = append(out.Evidence, rule...)
	return out
}

// nodePortPolicy is the policy verdict on node n's address reaching a
// backend on another node (nil when the policies admit it).
func nodePortPolicy(in ServiceInput, n observe.Node) *Finding {
	from, err := netip.ParseAddr(n.IP)
	if err != nil || !in.Policies.Read {
		return nil
	}
	for _, e := range in.ReadyEndpoints() {
		dst, ok := in.Policies.Pods[e.IP]
		if !ok || e.Node == n.Name {
			continue // a backend on this node always admits its own node
		}
		to, _ := netip.ParseAddr(e.IP)
		f := netpol.Flow{From: netpol.Peer{IP: from}, To: netpol.Peer{Pod: &dst, IP: to}, Port: int(e.Port), Protocol: corev1.ProtocolTCP}
		v := netpol.Evaluate(in.Policies.Set(), f)
		if v.Allowed() {
			continue
		}
		fd := Finding{Severity: Error, Cause: CauseNetworkPolicy, Nodes: []string{n.Name}, Target: in.NodePortVIP(),
			Summary: fmt.Sprintf("NodePort %d connections that kube-proxy sends to a backend on another node are refused by %s: they come from the node's own address, which no ingress rule admits",
				in.Port.NodePort, policyWords(v.Ingress))}
		if c := v.Ingress.Closest; c != nil {
			fd.Evidence = append(fd.Evidence, fmt.Sprintf("closest rule: %s ingress[%d]: %s", c.Policy, c.Rule, c.Why))
		}
		if c := v.Ingress.Cluster; c != nil {
			fd.Evidence = append(fd.Evidence, "deciding rule: "+c.String())
			fd.Fix = []string{fmt.Sprintf("kubectl get %s %s -o yaml   # cluster-scoped: changing it needs a cluster admin", strings.ToLower(c.Policy.Kind), c.Policy.Name),
				"its ingress rules select namespaces and pods, never the nodes' addresses: set externalTrafficPolicy: Local on the Service so the client's own address arrives at a local backend"}
			return &fd
		}
		// One policy for every node's address: the same verdict holds on each.
		np := netpol.Allow(f, networkingv1.PolicyTypeIngress)
		np.Name = "netcheck-allow-ingress-from-nodes-" + fmt.Sprint(e.Port)
		var peers []networkingv1.NetworkPolicyPeer
		for _, nn := range in.NodeNets {
			if a, err := netip.ParseAddr(nn.IP); err == nil {
				peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(a, a.BitLen()).String()}})
			}
		}
		if len(peers) > 0 {
			np.Spec.Ingress[0].From = peers
		}
		fd.Fix = []string{"admit the NodePort's clients in the backends' policy: the nodes' addresses (or set externalTrafficPolicy: Local so the client's own address arrives, and admit that), e.g.:\n" +
			netpol.ApplyCommand(np)}
		return &fd
	}
	return nil
}
