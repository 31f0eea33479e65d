package diagnose

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes `netcheck service` names.
const (
	CauseExternalName        Cause = "external-name"
	CauseNoSelector          Cause = "no-selector"
	CauseSelectorNoPods      Cause = "selector-matches-no-pods"
	CauseEndpointsNotReady   Cause = "endpoints-not-ready"
	CauseTargetPortMismatch  Cause = "targetport-mismatch"
	CauseBackendNotListening Cause = "backend-not-listening"
	CauseServiceDNS          Cause = "service-dns"
	CauseClusterDomain       Cause = "cluster-domain"
	CauseKubeProxyDown       Cause = "kube-proxy-down"
	CauseKubeProxyRules      Cause = "kube-proxy-rules-missing"
	CauseServicePath         Cause = "service-path"
	CauseCrossNode           Cause = "cross-node-path"
	CauseNodePort            Cause = "nodeport"
	CauseHairpin             Cause = "hairpin"
	CauseExternalIP          Cause = "external-ip"
	CauseEndpointsSilent     Cause = "endpoints-unreachable"
)

// HairpinCheck is a backend pod connecting to its own Service (`--hairpin`).
type HairpinCheck struct {
	Pod   string        `json:"pod"`
	Node  string        `json:"node"`
	Check observe.Check `json:"check"`
}

// ServicePort is the Service port under test.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol"` // "tcp", "udp", "sctp"
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort"` // a number or a container port name
	NodePort   int32  `json:"nodePort,omitempty"`
	// Index is the port's position in spec.ports (for the printed patch).
	Index int `json:"-"`
}

// Backend is one pod the Service's selector matches.
type Backend struct {
	Pod  string `json:"pod"`
	Node string `json:"node,omitempty"`
	IP   string `json:"ip,omitempty"`
	// IPs are all its addresses (status.podIPs), one per family on a dual-stack cluster.
	IPs      []string `json:"ips,omitempty"`
	Ready    bool     `json:"ready"`
	Reason   string   `json:"reason,omitempty"` // why not: CrashLoopBackOff, Pending, …
	Restarts int32    `json:"restarts"`
	// Declared are the container ports, "name:8080/TCP" or "8080/TCP".
	Declared []string `json:"declared,omitempty"`
	// TargetPort is the Service's targetPort resolved on this pod: the
	// number, the declared port of that name, or 0 when the name is not declared.
	TargetPort int32 `json:"targetPort"`
}

// Endpoint is one address of the Service's EndpointSlices for the port.
type Endpoint struct {
	IP    string `json:"ip"`
	Port  int32  `json:"port"`
	Node  string `json:"node,omitempty"`
	Pod   string `json:"pod,omitempty"`
	Ready bool   `json:"ready"`
	// Terminating is the slice's conditions.terminating.
	Terminating bool `json:"terminating,omitempty"`
	// Slice is the EndpointSlice that lists it.
	Slice string `json:"slice,omitempty"`
}

// Slice is one of the Service's EndpointSlices (IPv4 or IPv6), as
// evidence of which family's addresses it publishes and who writes it.
type Slice struct {
	Name        string `json:"name"`
	AddressType string `json:"addressType"` // IPv4, IPv6
	// ManagedBy is its endpointslice.kubernetes.io/managed-by label ("" when unlabelled).
	ManagedBy string `json:"managedBy,omitempty"`
}

// ServiceInput is what `netcheck service` read and observed.
type ServiceInput struct {
	Namespace string
	Name      string
	Type      string // ClusterIP, NodePort, LoadBalancer, ExternalName
	ClusterIP string // "None" when headless; the primary family's on a dual-stack Service
	// ClusterIPs are spec.clusterIPs, parsed: one per family on a
	// dual-stack Service, ClusterIP first.
	ClusterIPs []string
	// IPFamilies and IPFamilyPolicy are spec.ipFamilies ("IPv4", "IPv6")
	// and spec.ipFamilyPolicy (SingleStack, PreferDualStack, RequireDualStack).
	IPFamilies     []string
	IPFamilyPolicy string
	// Slices are the Service's IPv4 and IPv6 EndpointSlices (FQDN ones left out).
	Slices       []Slice
	ExternalName string
	Selector     map[string]string
	Port         ServicePort
	Backends     []Backend
	// Suggest is a selector close to the Service's that does match pods (nil: none found).
	Suggest      map[string]string
	SuggestCount int
	Endpoints    []Endpoint
	Domain       string // cluster domain of the FQDN queried
	NodeNets     []NodeNet
	Nodes        []observe.Node
	Hairpin      []HairpinCheck
	// ExternalIPs are spec.externalIPs and the load balancer's ingress IPs.
	ExternalIPs []string
	// Policies are the NetworkPolicies, the clients and the backends' identities.
	Policies Policies
}

// Headless reports a Service without a ClusterIP.
func (in ServiceInput) Headless() bool { return in.ClusterIP == "None" || in.ClusterIP == "" }

// ServiceFQDN is the name every probe resolves.
func ServiceFQDN(name, ns, domain string) string { return name + "." + ns + ".svc." + domain }

// SvcDNSKey identifies the Service name's lookup.
func SvcDNSKey(fqdn string) observe.CheckID {
	return observe.NewCheckID(observe.RoleServiceDNS, fqdn, 0)
}

// SvcHTTPKey identifies an HTTP GET of the Service's URL.
func SvcHTTPKey(url string) observe.CheckID {
	return observe.NewCheckID(observe.RoleServiceHTTP, url, 0)
}

// SvcClusterIPKey identifies a connect to ClusterIP:port.
func SvcClusterIPKey(ip string, port int32) observe.CheckID {
	return observe.NewCheckID(observe.RoleClusterIP, ip, int(port))
}

// SvcEndpointKey identifies a connect to one endpoint directly.
func SvcEndpointKey(ip string, port int32) observe.CheckID {
	return observe.NewCheckID(observe.RoleEndpoint, ip, int(port))
}

// SvcExternalKey identifies a connect to an external or load-balancer IP.
func SvcExternalKey(ip string, port int32) observe.CheckID {
	return observe.NewCheckID(observe.RoleExternalIP, ip, int(port))
}

// SvcNodePortKey identifies a connect to a node's own address and node port.
func SvcNodePortKey(ip string, port int32) observe.CheckID {
	return observe.NewCheckID(observe.RoleNodePort, ip, int(port))
}

// vipKey names one of the Service's addresses in the nodes' proxy facts,
// with the facts' own key, so the two cannot drift apart.
func (in ServiceInput) vipKey(ip string, port int32) string {
	a, _ := netip.ParseAddr(ip) // invalid for a node port, as facts.VIP wants
	return facts.VIP{Addr: a, Proto: in.Port.Protocol, Port: int(port)}.Key()
}

// ClusterIPVIP is the ClusterIP's key in the proxy facts.
func (in ServiceInput) ClusterIPVIP() string { return in.vipKey(in.ClusterIP, in.Port.Port) }

// NodePortVIP is the node port's key in the proxy facts.
func (in ServiceInput) NodePortVIP() string { return in.vipKey("", in.Port.NodePort) }

func (in ServiceInput) ref() string { return in.Namespace + "/" + in.Name }

// ReadyEndpoints are the endpoints traffic goes to.
func (in ServiceInput) ReadyEndpoints() []Endpoint {
	var out []Endpoint
	for _, e := range in.Endpoints {
		if e.Ready {
			out = append(out, e)
		}
	}
	return out
}

// Service diagnoses one Service: first what the API shows (selector,
// readiness, targetPort), then what a pod and the node on every node saw.
func Service(in ServiceInput) []Finding {
	if in.Type == "ExternalName" {
		return []Finding{{Severity: Info, Cause: CauseExternalName, Target: in.ref(),
			Summary:  fmt.Sprintf("an ExternalName Service is only a DNS alias (CNAME) for %s: no ClusterIP, no endpoints, no kube-proxy rules", in.ExternalName),
			Evidence: []string{fmt.Sprintf("spec.type=ExternalName, spec.externalName=%s", in.ExternalName)},
			Fix:      []string{"kubectl netcheck external " + in.ExternalName + "   # checks the name itself from every node"}}}
	}
	out := append(serviceStatic(in), familyStatic(in)...)
	if len(in.ReadyEndpoints()) == 0 {
		return merge(out)
	}
	live := serviceLive(in)
	for _, f := range live {
		if f.Cause == CauseTargetPortMismatch {
			out = dropCause(out, CauseTargetPortMismatch) // the refusals confirm the static warning
		}
	}
	out = append(out, live...)
	for _, n := range in.Nodes {
		if n.Err != "" {
			out = append(out, probeFailed(n.Name, n.Err))
		}
	}
	return merge(out)
}

// serviceStatic checks the objects: selector, pods, readiness, targetPort.
func serviceStatic(in ServiceInput) []Finding {
	ref := in.ref()
	if len(in.Selector) == 0 {
		if len(in.Endpoints) > 0 {
			return nil
		}
		return []Finding{{Severity: Error, Cause: CauseNoSelector, Target: ref,
			Summary:  "the Service has no selector and no EndpointSlice gives it an address: nothing answers it",
			Evidence: []string{"spec.selector is empty", "no EndpointSlice labelled kubernetes.io/service-name=" + in.Name + " lists an address"},
			Fix: []string{"add a selector: kubectl -n " + in.Namespace + " edit service " + in.Name,
				"or create an EndpointSlice labelled kubernetes.io/service-name=" + in.Name + " with your backends' addresses"}}}
	}
	sel := selectorString(in.Selector)
	if len(in.Backends) == 0 {
		f := Finding{Severity: Error, Cause: CauseSelectorNoPods, Target: ref,
			Summary:  fmt.Sprintf("the selector %s matches no pod in namespace %s: the Service has no endpoints, connections are refused or time out", sel, in.Namespace),
			Evidence: []string{"spec.selector: " + sel, "pods matching it in " + in.Namespace + ": none"},
			Fix:      []string{"kubectl -n " + in.Namespace + " get pods --show-labels"}}
		if in.Suggest != nil {
			f.Evidence = append(f.Evidence, fmt.Sprintf("closest labels that do exist: %s (%d pods)", selectorString(in.Suggest), in.SuggestCount))
			patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"selector": in.Suggest}})
			f.Fix = append(f.Fix, fmt.Sprintf("kubectl -n %s patch service %s -p '%s'", in.Namespace, in.Name, patch))
		}
		return []Finding{f}
	}
	var out []Finding
	var notReady, states []string
	for _, b := range in.Backends {
		st := "ready"
		if !b.Ready {
			st = "not ready"
			if b.Reason != "" {
				st += " (" + b.Reason + ")"
			}
			notReady = append(notReady, b.Pod)
		}
		node := b.Node
		if node == "" {
			node = "no node"
		}
		states = append(states, fmt.Sprintf("pod %s on %s: %s, %d restarts", b.Pod, node, st, b.Restarts))
	}
	if len(notReady) > 0 {
		f := Finding{Severity: Warning, Cause: CauseEndpointsNotReady, Target: ref,
			Summary:  fmt.Sprintf("%d of %d pods behind the Service are not ready: they get no traffic", len(notReady), len(in.Backends)),
			Evidence: states,
			Fix: []string{fmt.Sprintf("kubectl -n %s describe pod %s   # events: probes failing, image, scheduling", in.Namespace, notReady[0]),
				fmt.Sprintf("kubectl -n %s logs %s --previous   # if it restarts", in.Namespace, notReady[0])}}
		if len(notReady) == len(in.Backends) {
			f.Severity = Error
			f.Summary = fmt.Sprintf("none of the %d pods behind the Service is ready: it has no ready endpoint, connections are refused or time out", len(in.Backends))
			if len(in.Backends) == 1 {
				f.Summary = "the only pod behind the Service is not ready: it has no ready endpoint, connections are refused or time out"
			}
		}
		out = append(out, f)
	}
	if f := targetPortStatic(in); f != nil {
		out = append(out, *f)
	}
	return out
}

// targetPortStatic: a named targetPort that no selected pod declares
// leaves the Service without endpoints for the port; a number the pods
// do not declare is suspicious (declaring is optional, so only a warning
// until a connect is refused).
func targetPortStatic(in ServiceInput) *Finding {
	declared := map[string]bool{}
	var list []string
	resolved := false
	for _, b := range in.Backends {
		for _, d := range b.Declared {
			if !declared[d] {
				declared[d] = true
				list = append(list, d)
			}
		}
		if b.TargetPort != 0 {
			resolved = true
		}
	}
	sort.Strings(list)
	decl := "none"
	if len(list) > 0 {
		decl = strings.Join(list, ", ")
	}
	tp := in.Port.TargetPort
	ev := []string{fmt.Sprintf("Service port %d → targetPort %s", in.Port.Port, tp), "the pods declare: " + decl}
	if _, err := strconv.Atoi(tp); err != nil && !resolved {
		return &Finding{Severity: Error, Cause: CauseTargetPortMismatch, Target: in.ref(),
			Summary:  fmt.Sprintf("targetPort %q names no container port of the selected pods: the Service has no endpoint for port %d", tp, in.Port.Port),
			Evidence: ev, Fix: targetPortFix(in, list)}
	}
	if len(list) > 0 && !declaresNumber(list, tp) {
		if _, err := strconv.Atoi(tp); err == nil {
			return &Finding{Severity: Warning, Cause: CauseTargetPortMismatch, Target: in.ref(),
				Summary:  fmt.Sprintf("targetPort %s is not among the ports the pods declare: check the pods listen on %s", tp, tp),
				Evidence: ev, Fix: targetPortFix(in, list)}
		}
	}
	return nil
}

func declaresNumber(declared []string, tp string) bool {
	for _, d := range declared {
		num := d
		if _, after, ok := strings.Cut(d, ":"); ok {
			num = after
		}
		num, _, _ = strings.Cut(num, "/")
		if num == tp {
			return true
		}
	}
	return false
}

func targetPortFix(in ServiceInput, declared []string) []string {
	want := "<the port your container listens on>"
	if len(declared) == 1 {
		d := declared[0]
		if _, after, ok := strings.Cut(d, ":"); ok {
			d = after
		}
		want, _, _ = strings.Cut(d, "/")
	}
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/ports/%d/targetPort","value":%s}]`, in.Port.Index, want)
	if _, err := strconv.Atoi(want); err != nil {
		return []string{fmt.Sprintf("kubectl -n %s edit service %s   # set targetPort to %s", in.Namespace, in.Name, want)}
	}
	return []string{fmt.Sprintf("kubectl -n %s patch service %s --type=json -p '%s'", in.Namespace, in.Name, patch)}
}

func selectorString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}

func dropCause(fs []Finding, c Cause) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Cause != c {
			out = append(out, f)
		}
	}
	return out
}
