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
	var nodeSpecs func(corev1.Node) []probe.Spec
	if ip := s.In.ClusterIP; s.In.Outside != "" && ip != "" && ip != corev1.ClusterIPNone {
		specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSOutsideKey(ip), Argv: probe.DNSArgv(s.In.Outside, ip), Classify: probe.ClassifyDNS})
		// From the node: its own resolvers (resolv.conf, and the name through
		// them) beside each forward target — a private zone the nodes know
		// and CoreDNS's upstream does not is a missing stub domain.
		up := []probe.Spec{
			{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf},
			{Kind: observe.DNS, ID: diagnose.DNSNodeKey(s.In.Outside), Argv: probe.DNSArgv(s.In.Outside), Classify: probe.ClassifyDNS},
		}
		for _, t := range s.In.Forward.Targets { // an address, or address:port, parsed by ParseCorefileForward
			up = append(up, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSUpstreamKey(t), Argv: probe.DNSArgv(s.In.Outside, t), Classify: probe.ClassifyDNS})
		}
		nodeSpecs = func(corev1.Node) []probe.Spec { return up }
	}
	sample, _ := target.Parse(diagnose.SampleKey)
	return fanout.Plan{Consider: []target.Target{sample}, PodSpecs: specs, NodeSpecs: nodeSpecs, As: s.As}, ""
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

// Table: one row per node, one column per DNS query of the pod probe.
func (dnsLayout) Table(w io.Writer, r report.Result, _ bool) {
	var keys []observe.CheckID
	seen := map[observe.CheckID]bool{}
	for _, n := range r.Nodes {
		for _, c := range n.Pod.Checks {
			if c.Kind == observe.DNS && !seen[c.ID] {
				seen[c.ID] = true
				keys = append(keys, c.ID)
			}
		}
	}
	header := []string{"NODE", "RESOLV.CONF NAMESERVERS"}
	for _, k := range keys {
		header = append(header, strings.ToUpper(k.String()))
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
			row = append(row, report.Cell(n.Pod.Checks, k, observe.DNS))
		}
		t.Append(row)
	}
	flush(w)
}
