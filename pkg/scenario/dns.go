package scenario

import (
	"io"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// KindDNS is the report of `dns`.
const KindDNS = "DNSCheck"

// DNS is `kubectl netcheck dns`: from a pod on every node, its
// resolv.conf, one lookup through the DNS Service and one sent to each
// ready DNS pod directly; the node facts for the sample outside flow.
//
// Requires: the DNS Service and its pods (read by the command); the pod
// probe for the lookups, the node probe for the facts.
type DNS struct {
	In diagnose.DNSInput
	// As runs each named node's pod side as that workload pod (--from):
	// its resolv.conf, its network namespace.
	As map[string]fanout.Workload
}

// Kind implements Scenario.
func (DNS) Kind() string { return KindDNS }

// Plan implements Scenario.
func (s DNS) Plan() (fanout.Plan, string) {
	if !anyReady(s.In.Servers) {
		return fanout.Plan{}, "no DNS server is ready: no probe pod was started"
	}
	specs := []probe.Spec{{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf}}
	if ip := s.In.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSServiceKey(ip), Argv: probe.DNSArgv(s.In.Name, ip), Classify: probe.ClassifyDNS})
	}
	for _, srv := range s.In.Servers {
		if srv.Ready && srv.IP != "" {
			specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSPodKey(srv.IP), Argv: probe.DNSArgv(s.In.Name, srv.IP), Classify: probe.ClassifyDNS})
		}
	}
	// Dual-stack: each DNS pod asked at its address of the second family
	// too (the pod path of that family), and a name with an IPv6 address
	// asked for AAAA through the Service, as pods ask.
	consider := []string{diagnose.SampleKey}
	if diagnose.DNSDualStack(s.In.Servers) {
		consider = append(consider, diagnose.SampleKey6)
		for _, srv := range s.In.Servers {
			if srv.Ready && srv.IP != "" && srv.Other != "" {
				specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSPodKey(srv.Other), Argv: probe.DNSArgv(s.In.Name, srv.Other), Classify: probe.ClassifyDNS})
			}
		}
		for _, ip := range s.In.DNSServiceOthers() { // a dual-stack DNS Service's other address
			specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSServiceKey(ip), Argv: probe.DNSArgv(s.In.Name, ip), Classify: probe.ClassifyDNS})
		}
		if ip := s.In.ClusterIP; s.In.AAAA != nil && ip != "" && ip != corev1.ClusterIPNone {
			specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSAAAAKey(ip), Argv: probe.DNSTypeArgv("AAAA", s.In.AAAA.Name, ip), Classify: probe.ClassifyDNS})
		}
	}
	var up []probe.Spec
	var local []probe.FactTarget
	if nl := s.In.NodeLocal; nl != nil {
		// The cache asked the cluster name from both sides: its pods' way
		// to it, and whether it answers on the node at all.
		cache := probe.Spec{Kind: observe.DNS, ID: diagnose.DNSCacheKey(nl.Addr), Argv: probe.DNSArgv(s.In.Name, nl.Addr), Classify: probe.ClassifyDNS}
		specs = append(specs, cache)
		up = append(up, cache)
		if a, err := netip.ParseAddr(nl.Addr); err == nil {
			local = append(local, probe.FactTarget{Key: diagnose.NodeLocalKey, Addr: a, Proto: "udp", Port: 53})
		}
	}
	if ip := s.In.ClusterIP; s.In.Outside != "" && ip != "" && ip != corev1.ClusterIPNone {
		specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSOutsideKey(ip), Argv: probe.DNSArgv(s.In.Outside, ip), Classify: probe.ClassifyDNS})
		// What the name costs an application in this pod: its search list
		// and ndots, against the trailing dot (information, no verdict).
		specs = append(specs, probe.Spec{Kind: observe.Lookup, ID: diagnose.DNSSearchKey(s.In.Outside), Argv: probe.LookupArgv(s.In.Outside), Classify: probe.ClassifyLookup})
		// From the node: its own resolvers (resolv.conf, and the name through
		// them) beside each forward target — a private zone the nodes know
		// and CoreDNS's upstream does not is a missing stub domain.
		up = append(up,
			probe.Spec{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf},
			probe.Spec{Kind: observe.DNS, ID: diagnose.DNSNodeKey(s.In.Outside), Argv: probe.DNSArgv(s.In.Outside), Classify: probe.ClassifyDNS},
		)
		for _, t := range s.In.Forward.Targets { // an address, or address:port, parsed by ParseCorefileForward
			up = append(up, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSUpstreamKey(t), Argv: probe.DNSArgv(s.In.Outside, t), Classify: probe.ClassifyDNS})
		}
	}
	var nodeSpecs func(corev1.Node) []probe.Spec
	if len(up) > 0 {
		nodeSpecs = func(corev1.Node) []probe.Spec { return up }
	}
	var samples []target.Target
	for _, k := range consider {
		sample, _ := target.Parse(k) // constants: TestDNSPlan reads both
		samples = append(samples, sample)
	}
	return fanout.Plan{Consider: samples, PodSpecs: specs, NodeSpecs: nodeSpecs, As: s.As, Local: local}, ""
}

// CorefileConfigMap names the ConfigMap the DNS pods mount their Corefile
// from: the first ConfigMap volume with a Corefile item, else the first
// ConfigMap volume ("" when they mount none).
func CorefileConfigMap(pods []corev1.Pod) string {
	first := ""
	for _, p := range pods {
		for _, v := range p.Spec.Volumes {
			if v.ConfigMap == nil {
				continue
			}
			for _, it := range v.ConfigMap.Items {
				if it.Key == "Corefile" {
					return v.ConfigMap.Name
				}
			}
			if first == "" {
				first = v.ConfigMap.Name
			}
		}
	}
	return first
}

// Diagnose implements Scenario.
func (s DNS) Diagnose(nodes []observe.Node) []diagnose.Finding {
	in := s.In
	in.Nodes = nodes
	return diagnose.DNS(in)
}

// DNSServers describes the DNS Service's pods.
func DNSServers(pods []corev1.Pod) []diagnose.DNSServer {
	var out []diagnose.DNSServer
	for _, p := range pods {
		s := diagnose.DNSServer{Name: p.Name, Node: p.Spec.NodeName, Ready: podReady(p)}
		if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			s.IP = ip.String() // API text, parsed before it can reach an argv
			for _, o := range p.Status.PodIPs {
				if a, err := netip.ParseAddr(o.IP); err == nil && a.Is6() != ip.Is6() && s.Other == "" {
					s.Other = a.String()
				}
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			s.Restarts += cs.RestartCount
			if cs.State.Waiting != nil {
				s.Reason = cs.State.Waiting.Reason
			}
		}
		out = append(out, s)
	}
	return out
}

// DNSAAAAName picks the name `dns` asks for AAAA on a dual-stack cluster,
// from what it reads: the DNS Service itself when it has an IPv6
// ClusterIP; else the first ready DNS pod's own record
// (IP-with-dashes.NAMESPACE.pod.DOMAIN), which the kubernetes plugin serves
// with "pods insecure" or "pods verified" (kubeadm's Corefile says
// insecure). The domain is --name's, after ".svc.". Nil, and why, when
// there is none.
func DNSAAAAName(svc corev1.Service, servers []diagnose.DNSServer, pods []corev1.Pod, corefile, name string) (*diagnose.DNSAAAA, string) {
	_, domain, ok := strings.Cut(strings.TrimSuffix(strings.ToLower(name), "."), ".svc.")
	if !ok || domain == "" {
		return nil, "--name " + name + " is not a Service name (NAME.NAMESPACE.svc.DOMAIN): the cluster domain is unknown"
	}
	var want []string
	for _, c := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(c); err == nil && a.Is6() {
			want = append(want, a.String())
		}
	}
	if len(want) > 0 {
		return &diagnose.DNSAAAA{Name: svc.Name + "." + svc.Namespace + ".svc." + domain, Of: "Service " + svc.Namespace + "/" + svc.Name, Want: want}, ""
	}
	if !podRecords(corefile) {
		return nil, "the DNS Service has no IPv6 address and the Corefile serves no pod records (pods insecure|verified): no name known to have one"
	}
	for i, s := range servers {
		if i >= len(pods) || !s.Ready {
			continue
		}
		for _, ip := range []string{s.IP, s.Other} {
			if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
				return &diagnose.DNSAAAA{Name: strings.ReplaceAll(a.String(), ":", "-") + "." + pods[i].Namespace + ".pod." + domain,
					Of: "the DNS pod " + pods[i].Namespace + "/" + s.Name + "'s own record", Want: []string{a.String()}}, ""
			}
		}
	}
	return nil, "no ready DNS pod has an IPv6 address"
}

// podRecords: the Corefile's kubernetes plugin answers pod records.
func podRecords(corefile string) bool {
	for _, l := range strings.Split(corefile, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "pods" && (f[1] == "insecure" || f[1] == "verified") {
			return true
		}
	}
	return false
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func anyReady(s []diagnose.DNSServer) bool {
	for _, x := range s {
		if x.Ready {
			return true
		}
	}
	return false
}

type dnsLayout struct{}

func (dnsLayout) Healthy(report.Result) string {
	return "No problems found: cluster DNS answers pods on every node."
}

// Table: one row per node, one column per DNS query of the pod probe (and
// the timed lookup of --outside).
func (dnsLayout) Table(w io.Writer, r report.Result, _ bool) {
	var keys []observe.CheckID
	seen := map[observe.CheckID]bool{}
	for _, n := range r.Nodes {
		for _, c := range n.Pod.Checks {
			if (c.Kind == observe.DNS || c.Kind == observe.Lookup) && !seen[c.ID] {
				seen[c.ID] = true
				keys = append(keys, c.ID)
			}
		}
	}
	header := []string{"NODE", "RESOLV.CONF NAMESERVERS"}
	for _, k := range keys {
		h := k.String()
		if k.Role == observe.RoleDNSService && k.Of != "" {
			h += " " + k.Of // the AAAA lookup beside the plain one
		}
		header = append(header, strings.ToUpper(h))
	}
	t, flush := report.NewTable(header)
	for _, n := range r.Nodes {
		row := []string{n.Name, "-"}
		if n.Err != "" || n.Pod.Err != "" {
			row[1] = "ERROR"
		}
		for _, c := range n.Pod.Checks {
			if c.Kind == observe.ResolvConf {
				row[1] = strings.Join(c.Resolved, ",")
			}
		}
		for _, k := range keys {
			row = append(row, report.Cell(n.Pod.Checks, k, observe.DNS, observe.Lookup))
		}
		t.Append(row)
	}
	flush(w)
}
