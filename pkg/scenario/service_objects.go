package scenario

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// This file turns Kubernetes objects into the service scenario's inputs:
// pure functions, so each is tested on whole objects.

// MaxExternalIPs bounds the external and load-balancer addresses checked.
const MaxExternalIPs = 4

// MaxEndpoints bounds the endpoints connected to directly: enough to
// cover every node that hosts one in a small cluster, few enough that a
// Service with hundreds of pods does not multiply the checks.
const MaxEndpoints = 12

// ServiceInput is what the Service object itself says, for the port
// chosen by want (a name or number; "" = the first). Notes say what was
// chosen or left out. Backends and Endpoints come from their own objects.
func ServiceInput(svc *corev1.Service, want, domain string) (diagnose.ServiceInput, corev1.ServicePort, []string, error) {
	in := diagnose.ServiceInput{Namespace: svc.Namespace, Name: svc.Name, Type: string(svc.Spec.Type),
		ClusterIP: svc.Spec.ClusterIP, ExternalName: svc.Spec.ExternalName, Selector: svc.Spec.Selector, Domain: domain}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return in, corev1.ServicePort{}, nil, nil
	}
	// API text reaches argv only once it parses as an address.
	if ip, err := netip.ParseAddr(in.ClusterIP); err == nil {
		in.ClusterIP = ip.String()
	} else if in.ClusterIP != corev1.ClusterIPNone && in.ClusterIP != "" {
		return in, corev1.ServicePort{}, nil, fmt.Errorf("the Service's clusterIP %q is not an IP address", in.ClusterIP)
	}
	// A dual-stack Service has a ClusterIP per family: spec.clusterIPs,
	// the primary (spec.clusterIP) first.
	for _, c := range svc.Spec.ClusterIPs {
		if ip, err := netip.ParseAddr(c); err == nil && !slices.Contains(in.ClusterIPs, ip.String()) {
			in.ClusterIPs = append(in.ClusterIPs, ip.String())
		}
	}
	for _, f := range svc.Spec.IPFamilies {
		in.IPFamilies = append(in.IPFamilies, string(f))
	}
	if svc.Spec.IPFamilyPolicy != nil {
		in.IPFamilyPolicy = string(*svc.Spec.IPFamilyPolicy)
	}
	// Addresses a Service is also reached at: externalIPs and the load
	// balancer's, which kube-proxy intercepts on every node.
	addrs := append([]string(nil), svc.Spec.ExternalIPs...)
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		addrs = append(addrs, ing.IP)
	}
	for _, ip := range addrs {
		if _, err := netip.ParseAddr(ip); err == nil && len(in.ExternalIPs) < MaxExternalIPs {
			in.ExternalIPs = append(in.ExternalIPs, ip)
		}
	}
	sp, idx, err := PickPort(svc, want)
	if err != nil {
		return in, sp, nil, err
	}
	var notes []string
	if len(svc.Spec.Ports) > 1 && want == "" {
		notes = append(notes, fmt.Sprintf("the Service has %d ports; checked %s (choose with --port)", len(svc.Spec.Ports), portLabel(sp)))
	}
	in.Port = diagnose.ServicePort{Name: sp.Name, Protocol: strings.ToLower(string(sp.Protocol)), Port: sp.Port,
		TargetPort: sp.TargetPort.String(), NodePort: sp.NodePort, Index: idx}
	if in.Port.Protocol == "" {
		in.Port.Protocol = "tcp"
	}
	if in.Port.Protocol != "tcp" {
		notes = append(notes, fmt.Sprintf("port %s is %s: connects are TCP-only, so only the name and the proxy rules are checked (--port picks a TCP port; for cluster DNS, kubectl netcheck dns)", portLabel(sp), strings.ToUpper(in.Port.Protocol)))
	}
	return in, sp, notes, nil
}

// PickPort finds the Service port by name or number ("" = the first).
func PickPort(svc *corev1.Service, want string) (corev1.ServicePort, int, error) {
	if len(svc.Spec.Ports) == 0 {
		return corev1.ServicePort{}, 0, fmt.Errorf("service %s/%s has no ports", svc.Namespace, svc.Name)
	}
	if want == "" {
		return svc.Spec.Ports[0], 0, nil
	}
	var have []string
	for i, p := range svc.Spec.Ports {
		if p.Name == want || strconv.Itoa(int(p.Port)) == want {
			return p, i, nil
		}
		have = append(have, portLabel(p))
	}
	return corev1.ServicePort{}, 0, fmt.Errorf("service %s/%s has no port %q; it has: %s", svc.Namespace, svc.Name, want, strings.Join(have, ", "))
}

func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return fmt.Sprintf("%d (%s)", p.Port, p.Name)
	}
	return strconv.Itoa(int(p.Port))
}

// Backend describes one selected pod and resolves the targetPort on it.
func Backend(p corev1.Pod, sp corev1.ServicePort) diagnose.Backend {
	b := diagnose.Backend{Pod: p.Name, Node: p.Spec.NodeName, Ready: podReady(p)}
	if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil {
		b.IP = ip.String() // API text reaches argv only once parsed
	}
	for _, pi := range p.Status.PodIPs {
		if ip, err := netip.ParseAddr(pi.IP); err == nil && !slices.Contains(b.IPs, ip.String()) {
			b.IPs = append(b.IPs, ip.String())
		}
	}
	if !b.Ready {
		b.Reason = string(p.Status.Phase)
	}
	for _, cs := range p.Status.ContainerStatuses {
		b.Restarts += cs.RestartCount
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			b.Reason = cs.State.Waiting.Reason
		}
	}
	if sp.TargetPort.Type == intstr.Int {
		b.TargetPort = sp.TargetPort.IntVal
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			d := fmt.Sprintf("%d/%s", cp.ContainerPort, cp.Protocol)
			if cp.Name != "" {
				d = cp.Name + ":" + d
			}
			b.Declared = append(b.Declared, d)
			if sp.TargetPort.Type == intstr.String && cp.Name == sp.TargetPort.StrVal && cp.Protocol == sp.Protocol {
				b.TargetPort = cp.ContainerPort
			}
		}
	}
	return b
}

// Endpoints lists the slices' addresses for the Service port, by address:
// the IPv4 and the IPv6 slices' (a dual-stack Service has both), each
// endpoint with the slice that lists it.
func Endpoints(eps []discoveryv1.EndpointSlice, sp corev1.ServicePort) []diagnose.Endpoint {
	var out []diagnose.Endpoint
	for _, s := range eps {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue // FQDN: no address to connect to
		}
		var port int32
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == sp.Name && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue // the slice has no address for this port (e.g. a named targetPort not found)
		}
		for _, e := range s.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			ep := diagnose.Endpoint{Port: port, Ready: ready, Slice: s.Name,
				Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating}
			if e.NodeName != nil {
				ep.Node = *e.NodeName
			}
			if e.TargetRef != nil {
				ep.Pod = e.TargetRef.Name
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || ip.Is6() != (s.AddressType == discoveryv1.AddressTypeIPv6) {
					continue // API text, parsed before it can reach an argv; of the slice's family
				}
				ep.IP = ip.String()
				out = append(out, ep)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

// Slices are the Service's IPv4 and IPv6 EndpointSlices, by name, for
// evidence: which family each publishes and who writes it.
func Slices(eps []discoveryv1.EndpointSlice) []diagnose.Slice {
	var out []diagnose.Slice
	for _, s := range eps {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		out = append(out, diagnose.Slice{Name: s.Name, AddressType: string(s.AddressType), ManagedBy: s.Labels[discoveryv1.LabelManagedBy]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SampleEndpoints keeps at most max ready endpoints, one per node and
// family first, so every node that hosts a backend is covered in each
// family of a dual-stack Service.
func SampleEndpoints(es []diagnose.Endpoint, max int) []diagnose.Endpoint {
	var first, rest []diagnose.Endpoint
	type nodeFamily struct {
		node string
		v6   bool
	}
	seen := map[nodeFamily]bool{}
	for _, e := range es {
		if !e.Ready {
			continue
		}
		k := nodeFamily{e.Node, strings.Contains(e.IP, ":")}
		if !seen[k] {
			seen[k] = true
			first = append(first, e)
		} else {
			rest = append(rest, e)
		}
	}
	out := append(first, rest...)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// NodeNets are the nodes' addresses and pod subnets.
func NodeNets(nodes []corev1.Node) []diagnose.NodeNet {
	var out []diagnose.NodeNet
	for _, n := range nodes {
		out = append(out, diagnose.NodeNet{Name: n.Name, IP: plan.InternalIP(n), IPs: plan.InternalIPs(n), PodCIDRs: n.Spec.PodCIDRs})
	}
	return out
}

// PodCIDRTargets stands each node's podCIDR by its first address, for the
// node facts only: its route decision is the route to the whole podCIDR.
func PodCIDRTargets(nets []diagnose.NodeNet) []target.Target {
	var out []target.Target
	for _, nn := range nets {
		for _, c := range nn.PodCIDRs {
			if key, ok := diagnose.PodCIDRKey(c); ok {
				if tg, err := target.Parse(key); err == nil {
					out = append(out, tg)
				}
			}
		}
	}
	return out
}

// PolicyPod is a pod as NetworkPolicies see it: labels, namespace labels,
// container ports (for named ports).
func PolicyPod(p corev1.Pod, nsLabels map[string]string) netpol.Pod {
	out := netpol.Pod{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, NamespaceLabels: nsLabels}
	for _, c := range p.Spec.Containers {
		out.Ports = append(out.Ports, c.Ports...)
	}
	return out
}
