package diagnose

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// epView is one ready endpoint as every node's pod probe saw it.
type epView struct {
	e                 Endpoint
	ok, refused, lost []string // node names by outcome (lost: timeout/unreachable)
	ev                map[string]string
}

func (v epView) checked() int { return len(v.ok) + len(v.refused) + len(v.lost) }

// serviceLive compares, node by node, the Service's ClusterIP and name
// with its endpoints reached directly: the endpoints tell "the backend"
// from "the path between nodes" from "this node's Service plumbing".
func serviceLive(in ServiceInput) []Finding {
	var out []Finding
	var ran []observe.Node
	for _, n := range in.Nodes {
		if n.Err == "" && n.Pod.Err == "" {
			ran = append(ran, n)
		}
	}
	views := endpointViews(in, ran)
	policy, views := policyEndpoints(in, views)
	out = append(out, policy...)

	// Nothing listens: refused from every node, whatever the path.
	var deaf []epView
	for _, v := range views {
		if v.checked() > 0 && len(v.refused) == v.checked() {
			deaf = append(deaf, v)
		}
	}
	allDeaf := len(deaf) > 0 && len(deaf) == len(views)
	if len(deaf) > 0 {
		out = append(out, backendFinding(in, deaf))
	}
	// A node's FORWARD chain dropping a family's pod traffic explains that
	// family's endpoints lost to and from it: said once, with its fix.
	drops, explained := forwardDrops(in, views, ran)
	out = append(out, drops...)
	if f := silentEndpoints(in, views, explained); f != nil {
		out = append(out, *f)
	}

	lostFrom := func(from, to string) bool {
		for _, v := range views {
			if v.e.Node == to && contains(v.lost, from) && !explainedLoss(explained, v.e, from) {
				return true
			}
		}
		return false
	}
	routes, gaps := MissingPodRoutes(in.Nodes, in.NodeNets, lostFrom)
	out = append(out, routes...)
	out = append(out, crossNode(in, views, gaps, explained)...)

	domainOK := true
	if f := clusterDomain(in, ran); f != nil {
		out = append(out, *f)
		domainOK = false
	}
	var npPolicy *Finding
	if len(policy) == 0 { // the pods' own flows first: the NodePort's verdict waits for them
		npPolicy = nodePortPolicies(in, ran)
	}
	for _, n := range ran {
		for _, f := range nodeService(in, n, views, allDeaf, domainOK) {
			if f.Cause == CauseNodePort && npPolicy != nil && contains(npPolicy.Nodes, n.Name) {
				continue // the policy's doing, said once for every node below
			}
			out = append(out, f)
		}
	}
	if npPolicy != nil {
		out = append(out, *npPolicy)
	}
	return append(out, hairpin(in, ran, allDeaf)...)
}

// hairpin: a backend that loses connects to its own Service while the
// node's other pods reach it is losing the ones that land on itself: the
// bridge does not send a frame back out of the port it came in by.
func hairpin(in ServiceInput, ran []observe.Node, allDeaf bool) []Finding {
	var out []Finding
	for _, h := range in.Hairpin {
		if allDeaf || h.Check.Outcome == observe.OK || h.Check.Outcome == observe.Error || h.Check.Outcome == "" {
			continue
		}
		ev := []string{fmt.Sprintf("pod %s (a backend, on %s) → its own Service %s: %s", h.Pod, h.Node, net.JoinHostPort(in.ClusterIP, strconv.Itoa(int(in.Port.Port))), h.Check.Detail)}
		healthy := false
		for _, n := range ran {
			if n.Name != h.Node {
				continue
			}
			if c := check(n.Pod.Checks, SvcClusterIPKey(in.ClusterIP, in.Port.Port)); c != nil && c.Outcome == observe.OK {
				healthy = true
				ev = append(ev, describeCheck("pod@"+n.Name, *c)+" (another pod on the same node)")
			}
			if len(n.Facts.HairpinOff) > 0 {
				ev = append(ev, fmt.Sprintf("node@%s: hairpin_mode is 0 on %d of %d bridge ports: %s", n.Name, len(n.Facts.HairpinOff), n.Facts.BridgePorts, strings.Join(n.Facts.HairpinOff, ", ")))
			}
		}
		if !healthy {
			continue // the node's Service path itself fails: reported above
		}
		out = append(out, Finding{Severity: Error, Cause: CauseHairpin, Nodes: []string{h.Node}, Target: in.ref(),
			Summary:  "a backend pod loses the connections to its own Service that land on itself: hairpin mode is off on its bridge port",
			Evidence: ev,
			Fix: []string{`set "hairpinMode": true in the CNI bridge plugin's config (/etc/cni/net.d/) on ` + h.Node + `: new pods get it`,
				"for running pods, on the node: for f in /sys/class/net/*/brport/hairpin_mode; do echo 1 > $f; done"}})
	}
	return out
}

func endpointViews(in ServiceInput, ran []observe.Node) []epView {
	var views []epView
	for _, e := range in.ReadyEndpoints() {
		v := epView{e: e, ev: map[string]string{}}
		for _, n := range ran {
			c := check(n.Pod.Checks, SvcEndpointKey(e.IP, e.Port))
			if c == nil {
				continue
			}
			v.ev[n.Name] = describeCheck("pod@"+n.Name, *c) + e.where()
			switch {
			case c.Outcome == observe.OK:
				v.ok = append(v.ok, n.Name)
			case c.Outcome == observe.Refused:
				v.refused = append(v.refused, n.Name)
			case c.Outcome.Failed():
				v.lost = append(v.lost, n.Name)
			}
		}
		views = append(views, v)
	}
	return views
}

func backendFinding(in ServiceInput, deaf []epView) Finding {
	var ev, pods []string
	for _, v := range deaf {
		pods = append(pods, v.e.who())
		e := v.ev[v.refused[0]]
		if len(v.refused) > 1 {
			e += fmt.Sprintf(", and from the pods on %d other nodes", len(v.refused)-1)
		}
		ev = append(ev, e)
	}
	if deaf[0].e.Pod == "" {
		// Not a pod (the API server, a hand-made EndpointSlice): no logs to read.
		return Finding{Severity: Error, Cause: CauseBackendNotListening, Target: in.ref(),
			Summary:  fmt.Sprintf("nothing listens on port %d at %s: every node's pods are refused there", deaf[0].e.Port, strings.Join(pods, ", ")),
			Evidence: ev}
	}
	f := Finding{Severity: Error, Cause: CauseBackendNotListening, Target: in.ref(), Nodes: nil,
		Summary: fmt.Sprintf("nothing listens on port %d in %s: every node's pods are refused there, so the network is fine and the backend is not (crashed, listening on another port, or on 127.0.0.1 only)",
			deaf[0].e.Port, strings.Join(pods, ", ")),
		Evidence: ev,
		Fix: []string{fmt.Sprintf("kubectl -n %s logs %s   # which port does it say it listens on?", in.Namespace, deaf[0].e.Pod),
			fmt.Sprintf("kubectl -n %s debug -it %s --image=busybox:1.36 --target=<container> -- netstat -tln", in.Namespace, deaf[0].e.Pod)}}
	declared := map[string]bool{}
	var list []string
	for _, b := range in.Backends {
		for _, d := range b.Declared {
			if !declared[d] {
				declared[d] = true
				list = append(list, d)
			}
		}
	}
	tp := fmt.Sprint(deaf[0].e.Port)
	if len(list) > 0 && !declaresNumber(list, tp) {
		f.Cause = CauseTargetPortMismatch
		f.Summary = fmt.Sprintf("the Service sends port %d to targetPort %s, where nothing listens; the pods declare %s",
			in.Port.Port, tp, strings.Join(list, ", "))
		f.Evidence = append([]string{fmt.Sprintf("Service port %d → targetPort %s", in.Port.Port, in.Port.TargetPort)}, f.Evidence...)
		f.Fix = targetPortFix(in, list)
	}
	return f
}

// crossNode: an endpoint lost from some nodes but answering others is
// the path between nodes, not the backend.
func crossNode(in ServiceInput, views []epView, gaps RouteGaps, explained map[familyDrop]bool) []Finding {
	var out []Finding
	for _, v := range views {
		if len(v.ok) == 0 {
			continue
		}
		for _, from := range v.lost {
			if gaps.between(from, v.e.Node) || explainedLoss(explained, v.e, from) {
				continue // a missing podCIDR route or a FORWARD drop explains it, and was reported
			}
			ev := []string{v.ev[from], v.ev[v.ok[0]]}
			out = append(out, crossNodeFinding(from, v.e.Node, ev, in.Nodes,
				"a NetworkPolicy in "+in.Namespace+" that admits only some nodes' pods (kubectl -n "+in.Namespace+" get networkpolicy)"))
		}
	}
	return out
}

// clusterDomain: the FQDN queried must match the pods' search path, or a
// failed lookup says nothing about DNS.
func clusterDomain(in ServiceInput, ran []observe.Node) *Finding {
	for _, n := range ran {
		rc := check(n.Pod.Checks, DNSResolvKey)
		if rc == nil || rc.Outcome != observe.OK || in.Domain == "" {
			continue
		}
		var seen string
		for _, part := range strings.Split(rc.Detail, "; ") {
			if !strings.HasPrefix(part, "search ") {
				continue
			}
			for _, d := range strings.Fields(part)[1:] {
				if strings.HasPrefix(d, "svc.") {
					seen = strings.TrimPrefix(d, "svc.")
				}
			}
		}
		if seen != "" && seen != in.Domain {
			return &Finding{Severity: Warning, Cause: CauseClusterDomain,
				Summary:  fmt.Sprintf("the pods' search path says the cluster domain is %s, not %s: the name checks are not meaningful", seen, in.Domain),
				Evidence: []string{"pod@" + n.Name + ": /etc/resolv.conf: " + rc.Detail},
				Fix:      []string{fmt.Sprintf("kubectl netcheck service %s -n %s --cluster-domain %s", in.Name, in.Namespace, seen)}}
		}
	}
	return nil
}

// nodeService judges one node: ClusterIP, name and NodePort against the
// endpoints it reaches directly and the node's proxy rules.
func nodeService(in ServiceInput, n observe.Node, views []epView, allDeaf, domainOK bool) []Finding {
	var out []Finding
	node := []string{n.Name}
	reachesAll, _ := reaches(n.Name, views)
	var dns, np *observe.Check
	dns = check(n.Pod.Checks, SvcDNSKey(ServiceFQDN(in.Name, in.Namespace, in.Domain)))
	if in.Port.NodePort != 0 && n.IP != "" {
		np = check(n.Host.Checks, SvcNodePortKey(n.IP, in.Port.NodePort))
	}
	// Each ClusterIP with a ready endpoint of its family (a dual-stack
	// Service has one per family), judged against that family's endpoints.
	type famCheck struct {
		fv  ServiceInput
		cip *observe.Check
	}
	var fams []famCheck
	cipFailed, cipChecked := false, false
	for _, fv := range in.liveFamilies() {
		c := check(n.Pod.Checks, SvcClusterIPKey(fv.ClusterIP, in.Port.Port))
		fams = append(fams, famCheck{fv, c})
		cipFailed = cipFailed || (c != nil && c.Outcome.Failed())
		cipChecked = cipChecked || c != nil
	}
	var ev []string
	for _, fc := range fams {
		if fc.cip != nil {
			ev = append(ev, describeCheck("pod@"+n.Name, *fc.cip))
		}
	}
	if dns != nil {
		ev = append(ev, describeCheck("pod@"+n.Name, *dns))
	}
	if np != nil {
		ev = append(ev, describeCheck("node@"+n.Name, *np))
	}
	for _, fc := range fams {
		if hc := check(n.Host.Checks, SvcClusterIPKey(fc.fv.ClusterIP, in.Port.Port)); hc != nil {
			ev = append(ev, describeCheck("node@"+n.Name, *hc))
		}
	}
	for _, v := range views {
		if s, ok := v.ev[n.Name]; ok && (contains(v.ok, n.Name)) {
			ev = append(ev, s)
			break
		}
	}

	explained := false
	for _, fc := range fams {
		if fc.cip == nil || !fc.cip.Outcome.Failed() || allDeaf {
			continue
		}
		fAll, fAny := reaches(n.Name, familyViews(in, views, fc.fv.ClusterIP))
		if f := proxyFinding(fc.fv, n, ev); f != nil {
			out = append(out, *f)
			explained = true
		} else if fAll && fAny {
			out = append(out, Finding{Severity: Error, Cause: CauseServicePath, Nodes: node, Target: in.ref(),
				Summary:  "the ClusterIP fails from this node's pods while every endpoint answers them directly, and the node's proxy rules for it look present",
				Evidence: append(ev, proxyEvidence(fc.fv, n)...),
				Candidates: []string{"conntrack holds stale entries for the ClusterIP (conntrack -D -d " + fc.fv.ClusterIP + " on " + n.Name + ")",
					"a NetworkPolicy or host firewall that treats ClusterIP traffic differently (after DNAT the source may be masqueraded)",
					"kube-proxy is syncing: look at its logs on " + n.Name}})
			explained = true
		}
	}
	if f := staleProxy(in, n, ev); !cipFailed && f != nil {
		out = append(out, *f)
	}
	if domainOK && dns != nil && (!cipFailed || !explained) {
		switch {
		case dns.Outcome.Failed():
			f := Finding{Severity: Error, Cause: CauseServiceDNS, Nodes: node, Target: ServiceFQDN(in.Name, in.Namespace, in.Domain),
				Summary:  "the Service's name does not resolve from this node's pods while its ClusterIP answers: cluster DNS is the problem, not the Service",
				Evidence: ev,
				Fix:      []string{"kubectl netcheck dns   # finds which part of cluster DNS is broken"}}
			if !cipChecked || cipFailed {
				f.Summary = "the Service's name does not resolve from this node's pods"
			}
			out = append(out, f)
		case in.Headless() && dns.Outcome == observe.OK && !resolvesToEndpoint(dns.Resolved, in.ReadyEndpoints()):
			out = append(out, Finding{Severity: Error, Cause: CauseServiceDNS, Nodes: node, Target: ServiceFQDN(in.Name, in.Namespace, in.Domain),
				Summary:  fmt.Sprintf("the headless Service's name resolves to %s, none of its ready endpoints: a stale or foreign DNS answer", strings.Join(dns.Resolved, ",")),
				Evidence: ev,
				Fix:      []string{"kubectl -n kube-system get configmap coredns -o yaml   # a hosts/rewrite entry or a cache serving old addresses?"}})
		case !in.Headless() && dns.Outcome == observe.OK && !resolvesToAny(dns.Resolved, in.AllClusterIPs()):
			out = append(out, Finding{Severity: Error, Cause: CauseServiceDNS, Nodes: node, Target: ServiceFQDN(in.Name, in.Namespace, in.Domain),
				Summary:  fmt.Sprintf("the Service's name resolves to %s, not to its ClusterIP %s: a stale or foreign DNS answer", strings.Join(dns.Resolved, ","), in.ClusterIP),
				Evidence: ev,
				Fix:      []string{"kubectl -n kube-system get configmap coredns -o yaml   # a hosts/rewrite entry or a cache serving the old address?"}})
		}
	}
	if !cipFailed && !allDeaf && reachesAll {
		out = append(out, externalIPs(in, n, ev)...)
	}
	// A NodePort balances over every endpoint: with some endpoint lost
	// from this node its failure is that path's, already reported.
	if np != nil && np.Outcome.Failed() && !cipFailed && !allDeaf && reachesAll {
		f := Finding{Severity: Error, Cause: CauseNodePort, Nodes: node, Target: in.NodePortVIP(),
			Summary:  fmt.Sprintf("the node does not answer its own NodePort %d while the ClusterIP works", in.Port.NodePort),
			Evidence: append(ev, proxyEvidence(in, n)...),
			Candidates: []string{"kube-proxy's --nodeport-addresses excludes this address",
				"a host firewall rule on " + n.Name + " drops the port"}}
		out = append(out, f)
	}
	return out
}

// resolvesToEndpoint: a headless name answers with the ready pods' IPs.
func resolvesToEndpoint(resolved []string, eps []Endpoint) bool {
	for _, e := range eps {
		if contains(resolved, e.IP) {
			return true
		}
	}
	return false
}

// silentEndpoints: endpoints no node's pod reaches, not even the pod on
// the endpoint's own node, with no refusal either: something drops the
// packets at the backend — an ingress NetworkPolicy, or the pod's own firewall.
func silentEndpoints(in ServiceInput, views []epView, explained map[familyDrop]bool) *Finding {
	var ev, pods []string
	for _, v := range views {
		if len(v.lost) == 0 || len(v.ok) > 0 || len(v.refused) > 0 || explained[familyDrop{v.e.Node, is6(v.e.IP)}] {
			continue
		}
		pods = append(pods, v.e.who())
		e := v.ev[v.lost[0]]
		if len(v.lost) > 1 {
			e += fmt.Sprintf(", and from the pods on %d other nodes", len(v.lost)-1)
		}
		ev = append(ev, e)
	}
	if len(pods) == 0 {
		return nil
	}
	return &Finding{Severity: Error, Cause: CauseEndpointsSilent, Target: in.ref(),
		Summary:  "no node's pods reach " + strings.Join(pods, ", ") + ", not even from the same node, and nothing refuses: the packets are dropped at the backend",
		Evidence: ev,
		Candidates: []string{"an ingress NetworkPolicy in " + in.Namespace + " that does not admit the probe's namespace or labels (app.kubernetes.io/name=kubectl-netcheck)",
			"a firewall inside the backend pods (iptables in the container, a sidecar)"},
		Fix: []string{"kubectl -n " + in.Namespace + " get networkpolicy", "kubectl netcheck service " + in.Name + " -n " + in.Namespace + " --probe-namespace <a namespace your clients run in>"}}
}

// who names an endpoint: its pod, or its address when it is not a pod.
func (e Endpoint) who() string {
	if e.Pod != "" {
		return e.Pod
	}
	return e.IP
}

// where is the evidence suffix that says whose the endpoint is.
func (e Endpoint) where() string {
	switch {
	case e.Pod != "" && e.Node != "":
		return " (" + e.Pod + " on " + e.Node + ")"
	case e.Pod != "":
		return " (" + e.Pod + ")"
	case e.Node != "":
		return " (on " + e.Node + ")"
	}
	return ""
}

// reaches: the node's pods reach (or are refused by) every endpoint
// checked, and any.
func reaches(node string, views []epView) (all, any bool) {
	all = true
	for _, v := range views {
		if contains(v.ok, node) || contains(v.refused, node) {
			any = true
		} else if v.checked() > 0 {
			all = false
		}
	}
	return all, any
}

// familyViews are the views of the endpoints of ip's family (all of them
// on a single-stack Service).
func familyViews(in ServiceInput, views []epView, ip string) []epView {
	if !in.DualStack() {
		return views
	}
	var out []epView
	for _, v := range views {
		if is6(v.e.IP) == is6(ip) {
			out = append(out, v)
		}
	}
	return out
}

func resolvesToAny(resolved, ips []string) bool {
	for _, ip := range ips {
		if contains(resolved, ip) {
			return true
		}
	}
	return false
}
