package diagnose

// The node's Service plumbing: kube-proxy's rules for one Service, and
// the Service's external addresses, judged from the node facts.

import (
	"fmt"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func serviceRules(kp *observe.KubeProxy, vip string) *observe.ServiceRules {
	if kp == nil {
		return nil
	}
	for i := range kp.Services {
		if kp.Services[i].VIP == vip {
			return &kp.Services[i]
		}
	}
	return nil
}

func proxyEvidence(in ServiceInput, n observe.Node) []string {
	kp := n.Facts.KubeProxy
	if kp == nil {
		return nil
	}
	var ev []string
	mode := kp.Mode
	if mode == "none" {
		mode = "none (no kube-proxy chains, no kube-ipvs0, no kube-proxy nftables table)"
	}
	ev = append(ev, "node@"+n.Name+": Service proxy mode: "+mode)
	if kp.ProcessesRead {
		procs := "none of kube-proxy, cilium-agent, kube-router, antrea-agent is running"
		if len(kp.Processes) > 0 {
			procs = "running: " + strings.Join(kp.Processes, ", ")
		}
		ev = append(ev, "node@"+n.Name+": processes: "+procs)
	}
	for _, vip := range []string{in.ClusterIPVIP(), in.NodePortVIP()} {
		ev = append(ev, proxyRuleEvidence(n, vip)...)
	}
	return ev
}

// proxyFinding names a missing or stale Service proxy on the node.
// restartProxy are the commands that give a node a fresh kube-proxy.
func restartProxy(node string) []string {
	return []string{"kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide --field-selector spec.nodeName=" + node,
		"kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=" + node + "   # its DaemonSet starts a fresh one",
		"or, where kube-proxy is a system service on the node: systemctl restart kube-proxy; journalctl -u kube-proxy"}
}

func proxyFinding(in ServiceInput, n observe.Node, ev []string) *Finding {
	kp := n.Facts.KubeProxy
	sr := serviceRules(kp, in.ClusterIPVIP())
	if sr == nil {
		return nil
	}
	ev = append(ev, proxyEvidence(in, n)...)
	f := &Finding{Severity: Error, Cause: CauseKubeProxyRules, Nodes: []string{n.Name}, Target: in.ref(), Evidence: ev, Fix: restartProxy(n.Name)}
	switch {
	case sr.Programmed == observe.No && kp.Mode == "none" && kp.ProcessesRead && !contains(kp.Processes, "kube-proxy"):
		f.Cause = CauseKubeProxyDown
		f.Summary = "kube-proxy is not running on this node and none of its rules are there: no ClusterIP works from its pods (cluster DNS neither)"
	case kp.Mode != "none" && kp.ProcessesRead && len(kp.Processes) == 0 && (sr.Programmed == observe.No || sr.Endpoints == 0):
		// Rules without their writer: a crash, or a firewall reload that
		// flushed part of them. Nothing will bring them up to date.
		f.Cause = CauseKubeProxyDown
		f.Summary = fmt.Sprintf("kube-proxy is not running on this node and the %s rules it left are stale: nothing updates them, so %s is not served as the API says", kp.Mode, in.ClusterIPVIP())
	case sr.Programmed == observe.No && kp.Mode == "none":
		f.Summary = "the node has no Service rules at all: kube-proxy (or the CNI that replaces it) has programmed nothing here"
	case sr.Programmed == observe.No:
		f.Summary = fmt.Sprintf("the node's %s rules have no entry for %s while other Services are programmed: kube-proxy on this node has not synced this Service", kp.Mode, in.ClusterIPVIP())
	case sr.Programmed == observe.Yes && sr.Endpoints == 0:
		f.Summary = fmt.Sprintf("the node's rules say the Service has no endpoints while the API lists %d ready: kube-proxy on this node is stale", len(in.ReadyEndpoints()))
	default:
		return nil
	}
	return f
}

// staleProxy: the Service works on this node, but kube-proxy is not
// running there: its rules still serve, and nothing will update them.
func staleProxy(in ServiceInput, n observe.Node, ev []string) *Finding {
	kp := n.Facts.KubeProxy
	if kp == nil || kp.Mode == "none" || !kp.ProcessesRead || len(kp.Processes) > 0 {
		return nil
	}
	f := proxyFinding(in, n, ev)
	if f == nil {
		f = &Finding{Nodes: []string{n.Name}, Target: in.ref(), Evidence: append(ev, proxyEvidence(in, n)...), Fix: restartProxy(n.Name)}
	}
	f.Severity, f.Cause = Warning, CauseKubeProxyDown
	f.Summary = fmt.Sprintf("kube-proxy is not running on this node; the %s rules it left still serve %s, but they are stale: nothing updates them when a Service or its endpoints change", kp.Mode, in.ClusterIPVIP())
	return f
}

func proxyRuleEvidence(n observe.Node, vip string) []string {
	sr := serviceRules(n.Facts.KubeProxy, vip)
	switch {
	case sr == nil:
		return nil
	case sr.Programmed == observe.No:
		return []string{fmt.Sprintf("node@%s: no rule for %s", n.Name, vip)}
	case len(sr.Rules) > 0:
		return []string{fmt.Sprintf("node@%s: %s: %s", n.Name, vip, sr.Rules[0])}
	}
	return nil
}

// externalIPs: the Service's external and load-balancer addresses fail
// from this node's pods or from the node itself while its ClusterIP works.
func externalIPs(in ServiceInput, n observe.Node, ev []string) []Finding {
	var out []Finding
	for _, ip := range in.ExternalIPs {
		key := SvcExternalKey(ip, in.Port.Port)
		var failed []string
		var fev []string
		for _, side := range []struct {
			who    string
			checks []observe.Check
		}{{"pod@" + n.Name, n.Pod.Checks}, {"node@" + n.Name, n.Host.Checks}} {
			if c := check(side.checks, key); c != nil {
				fev = append(fev, describeCheck(side.who, *c))
				if c.Outcome.Failed() && c.Outcome != observe.Refused {
					failed = append(failed, side.who)
				}
			}
		}
		if len(failed) == 0 {
			continue
		}
		vip := in.vipKey(ip, in.Port.Port)
		f := Finding{Severity: Error, Cause: CauseExternalIP, Nodes: []string{n.Name}, Target: vip,
			Summary:  "the Service's external address fails from this node while its ClusterIP works",
			Evidence: append(append(fev, ev[:min(1, len(ev))]...), proxyRuleEvidence(n, vip)...),
			Candidates: []string{"the load balancer's ipMode is Proxy (status.loadBalancer.ingress[].ipMode): traffic leaves for the load balancer, which may not hairpin it back into the cluster",
				"a firewall between this node and the address",
				"kube-proxy's rules for the address are missing on " + n.Name}}
		if sr := serviceRules(n.Facts.KubeProxy, vip); sr != nil && sr.Programmed == observe.No {
			f.Summary = "the node's proxy rules have no entry for the Service's external address, while its ClusterIP is programmed: kube-proxy on this node has not synced it"
			f.Candidates = nil
			f.Fix = []string{"kubectl -n kube-system logs -l k8s-app=kube-proxy --field-selector spec.nodeName=" + n.Name}
		}
		out = append(out, f)
	}
	return out
}
