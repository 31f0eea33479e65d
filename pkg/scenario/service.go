package scenario

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// KindService is the report of `service`.
const KindService = "ServiceCheck"

// Service is `kubectl netcheck service NAME`: the Service's objects, then
// from the pod probe its name, each ClusterIP (one per family on a
// dual-stack Service) and each endpoint (from the pod's address of the
// endpoint's family); from the node probe each ClusterIP and the node's
// own NodePort; node facts for the nodes' podCIDRs (each family's) and the
// Service's proxy rules.
//
// Requires: the Service, its pods and EndpointSlices, the nodes (read by
// the command, see service_objects.go); both probes once it has a ready
// endpoint. --hairpin's checks are made by the command beside the run.
type Service struct {
	In      diagnose.ServiceInput
	HTTP    bool          // also GET / through the ClusterIP
	Timeout time.Duration // of each check
	// As runs each named node's pod side as that workload pod (--from).
	As map[string]fanout.Workload
}

// Kind implements Scenario.
func (Service) Kind() string { return KindService }

// Plan implements Scenario.
func (s Service) Plan() (fanout.Plan, string) {
	in, t := s.In, s.Timeout
	switch {
	case in.Type == string(corev1.ServiceTypeExternalName):
		return fanout.Plan{}, "an ExternalName Service has nothing to connect to: no probe pod was started"
	case !anyEndpointReady(in.Endpoints):
		return fanout.Plan{}, "the Service has no ready endpoint: no probe pod was started"
	}
	tcp := in.Port.Protocol == "tcp"
	fqdn := diagnose.ServiceFQDN(in.Name, in.Namespace, in.Domain)
	pod := []probe.Spec{
		{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf},
		{Kind: observe.DNS, ID: diagnose.SvcDNSKey(fqdn), Argv: probe.DNSArgv(fqdn), Classify: probe.ClassifyDNS},
	}
	var vips []facts.VIP
	var clusterIP []probe.Spec
	// Every ClusterIP (one per family on a dual-stack Service), from both
	// sides; its proxy rules looked up.
	for _, ip := range in.AllClusterIPs() {
		cip, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		vips = append(vips, facts.VIP{Addr: cip, Proto: in.Port.Protocol, Port: int(in.Port.Port)})
		if tcp {
			clusterIP = append(clusterIP, tcpSpec(diagnose.SvcClusterIPKey(ip, in.Port.Port), ip, int(in.Port.Port), t))
		}
	}
	pod = append(pod, clusterIP...)
	if tcp && (s.HTTP || strings.HasPrefix(in.Port.Name, "http")) {
		for _, ip := range in.AllClusterIPs() {
			if _, err := netip.ParseAddr(ip); err == nil {
				url := "http://" + net.JoinHostPort(ip, strconv.Itoa(int(in.Port.Port))) + "/"
				pod = append(pod, probe.Spec{Kind: observe.HTTP, ID: diagnose.SvcHTTPKey(url), Argv: probe.HTTPArgv(url, t), Classify: probe.ClassifyHTTP})
			}
		}
	}
	if in.Port.NodePort != 0 {
		vips = append(vips, facts.VIP{Proto: in.Port.Protocol, Port: int(in.Port.NodePort)})
	}
	var external []probe.Spec
	for _, ip := range in.ExternalIPs {
		a, _ := netip.ParseAddr(ip)
		vips = append(vips, facts.VIP{Addr: a, Proto: in.Port.Protocol, Port: int(in.Port.Port)})
		if tcp {
			external = append(external, tcpSpec(diagnose.SvcExternalKey(ip, in.Port.Port), ip, int(in.Port.Port), t))
		}
	}
	pod = append(pod, external...)
	if tcp {
		for _, e := range SampleEndpoints(in.Endpoints, MaxEndpoints) {
			pod = append(pod, tcpSpec(diagnose.SvcEndpointKey(e.IP, e.Port), e.IP, int(e.Port), t))
		}
	}
	nodeSpecs := func(n corev1.Node) []probe.Spec {
		if !tcp {
			return nil
		}
		out := append([]probe.Spec(nil), clusterIP...)
		if ip := plan.InternalIP(n); in.Port.NodePort != 0 && ip != "" {
			out = append(out, tcpSpec(diagnose.SvcNodePortKey(ip, in.Port.NodePort), ip, int(in.Port.NodePort), t))
		}
		// A node reaching its own cluster's external/LB address is a known trap.
		return append(out, external...)
	}
	return fanout.Plan{Consider: PodCIDRTargets(in.NodeNets), PodSpecs: pod, NodeSpecs: nodeSpecs, VIPs: vips, As: s.As, Settle: in.Policies.ProbeSettle()}, ""
}

func tcpSpec(id observe.CheckID, addr string, port int, t time.Duration) probe.Spec {
	return probe.Spec{Kind: observe.TCP, ID: id, Argv: probe.TCPArgv(addr, port, t), Classify: probe.ClassifyTCP}
}

// Diagnose implements Scenario.
func (s Service) Diagnose(nodes []observe.Node) []diagnose.Finding {
	in := s.In
	in.Nodes = nodes
	return diagnose.Service(in)
}

func anyEndpointReady(es []diagnose.Endpoint) bool {
	for _, e := range es {
		if e.Ready {
			return true
		}
	}
	return false
}
