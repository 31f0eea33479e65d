package cmd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// maxExternalIPs bounds the external and load-balancer addresses checked.
const maxExternalIPs = 4

// maxEndpoints bounds the endpoints connected to directly: enough to
// cover every node that hosts one in most clusters, without an exec
// storm for a Service of 500 replicas.
const maxEndpoints = 12

// ServiceOptions is `kubectl netcheck service NAME`.
type ServiceOptions struct {
	ProbeOptions
	Name          string
	Port          string // name or number of the Service port; "" = the first
	HTTP          bool
	ClusterDomain string
	Hairpin       bool

	svcNamespace string
}

// NewCmdService builds the command.
func NewCmdService(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ServiceOptions{ProbeOptions: ProbeOptions{ConfigFlags: flags, IOStreams: streams}}
	cmd := &cobra.Command{
		Use:     "service NAME",
		Aliases: []string{"svc"},
		Short:   "Find why a Service does not answer, from a pod and the node on every node",
		Long: strings.TrimSpace(`
Checks one Service as its clients use it. First the objects: does the
selector match pods, are they ready, does the targetPort name a port the
pods declare (EndpointSlices, not Endpoints). Then, from a pod on every
node: the Service's name (cluster DNS), its ClusterIP and port, and each
endpoint's pod IP and targetPort directly; from the node itself its own
NodePort; and the node's kube-proxy rules for the Service.

Comparing them names the cause: no endpoints (selector), endpoints not
ready, targetPort mismatch, backend not listening (refused from every
node), kube-proxy down or its rules missing on node X, the path between
two nodes broken (with the missing podCIDR route), DNS broken while the
ClusterIP works.

The Service is looked up in the namespace of -n (or the kubeconfig's);
probe pods go to --probe-namespace (default: the same namespace).

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: `  kubectl netcheck service web -n shop
  kubectl netcheck service web -n shop --port 8443 --probe-namespace netcheck
  kubectl netcheck svc api --node worker-1 -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: firstArg(o.completeWith(listServices)),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Port, "port", "", "the Service port to check, by name or number (default: the first)")
	cmd.Flags().BoolVar(&o.HTTP, "http", false, "also GET http://CLUSTER-IP:PORT/ (default: when the port's name or appProtocol says http)")
	cmd.Flags().StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain, for the Service's FQDN")
	cmd.Flags().BoolVar(&o.Hairpin, "hairpin", false, "also connect from a backend pod per node to its own Service; CHANGES those pods: adds an ephemeral container, which Kubernetes cannot remove until the pod is replaced")
	return cmd
}

// Complete builds the clients and finds the Service's namespace.
func (o *ServiceOptions) Complete() error {
	if err := o.ProbeOptions.Complete(); err != nil {
		return err
	}
	if o.svcNamespace == "" {
		if ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
			o.svcNamespace = ns
		} else {
			o.svcNamespace = metav1.NamespaceDefault
		}
	}
	if o.ProbeNamespace == "" {
		o.Namespace = o.svcNamespace
	}
	return nil
}

// Validate checks the name and flags before the cluster is asked anything.
func (o *ServiceOptions) Validate() error {
	if errs := validation.IsDNS1035Label(o.Name); len(errs) > 0 {
		return cannotRun("%q is not a valid Service name: %s", o.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(o.svcNamespace); len(errs) > 0 {
		return cannotRun("namespace %q is not valid: %s", o.svcNamespace, strings.Join(errs, "; "))
	}
	if err := target.ValidateDNSName(o.ClusterDomain); err != nil {
		return cannotRun("--cluster-domain: %v", err)
	}
	if o.Port != "" {
		if n, err := strconv.Atoi(o.Port); err == nil {
			if n < 1 || n > 65535 {
				return cannotRun("--port %d: give 1-65535 or a port name", n)
			}
		} else if errs := validation.IsValidPortName(o.Port); len(errs) > 0 {
			return cannotRun("--port %q is neither a number nor a port name: %s", o.Port, strings.Join(errs, "; "))
		}
	}
	return o.ProbeOptions.Validate()
}

// Run reads the Service, probes, diagnoses and reports.
func (o *ServiceOptions) Run(parent context.Context) error {
	start := time.Now()
	ctx, stop, err := o.begin(parent)
	if err != nil {
		return err
	}
	defer stop()
	g, err := o.gather(ctx, nil)
	if err != nil {
		return err
	}
	return o.finish("ServiceCheck", "service", []string{g.desc}, g.sel, g.run, diagnose.Service(g.in), start)
}

// gathered is one Service read and probed.
type gathered struct {
	in   diagnose.ServiceInput
	sel  plan.Selected
	run  probeRun
	desc string
}

// gather reads the Service and, when it has ready endpoints, probes it
// from every node; more adds checks of its own (the api command's HTTPS).
func (o *ServiceOptions) gather(ctx context.Context, more func(*fanout.Config, diagnose.ServiceInput)) (gathered, error) {
	var g gathered
	svc, err := o.service(ctx)
	if err != nil {
		return g, err
	}
	in, notes, err := o.read(ctx, svc)
	if err != nil {
		return g, err
	}
	sel, err := o.selectNodes(ctx)
	if err != nil {
		return g, err
	}
	in.NodeNets = nodeNets(sel.All)
	g.desc = fmt.Sprintf("service %s/%s port %d/%s", in.Namespace, in.Name, in.Port.Port, in.Port.Protocol)
	if in.Type == string(corev1.ServiceTypeExternalName) {
		g.desc = fmt.Sprintf("service %s/%s (ExternalName %s)", in.Namespace, in.Name, in.ExternalName)
	}
	var run probeRun
	switch {
	case in.Type == string(corev1.ServiceTypeExternalName):
		run.Notes = append(run.Notes, "an ExternalName Service has nothing to connect to: no probe pod was started")
	case len(in.Endpoints) == 0 || !anyEndpointReady(in.Endpoints):
		run.Notes = append(run.Notes, "the Service has no ready endpoint: no probe pod was started")
	default:
		cfg := o.config(in)
		if more != nil {
			more(&cfg, in)
		}
		var hairpinNotes []string
		hairpinDone := make(chan struct{})
		if o.Hairpin {
			probed := map[string]bool{}
			for _, n := range sel.Nodes {
				probed[n.Name] = true
			}
			go func() {
				defer close(hairpinDone)
				in.Hairpin, hairpinNotes = o.hairpinChecks(ctx, in, probed)
			}()
		} else {
			close(hairpinDone)
		}
		run, err = o.launchAndProbe(ctx, cfg, sel)
		<-hairpinDone
		if err != nil {
			return g, err
		}
		run.Notes = append(run.Notes, hairpinNotes...)
	}
	run.Notes = append(notes, run.Notes...)
	in.Nodes = run.Nodes
	g.in, g.sel, g.run = in, sel, run
	return g, nil
}

// service reads the Service; a missing one gets the names that exist.
func (o *ServiceOptions) service(ctx context.Context) (*corev1.Service, error) {
	svc, err := o.Client.CoreV1().Services(o.svcNamespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err == nil {
		return svc, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, apiError("read service "+o.svcNamespace+"/"+o.Name, err)
	}
	if _, nerr := o.Client.CoreV1().Namespaces().Get(ctx, o.svcNamespace, metav1.GetOptions{}); apierrors.IsNotFound(nerr) {
		return nil, cannotRun("namespace %q not found: pass the Service's namespace with -n", o.svcNamespace)
	}
	msg := fmt.Sprintf("service %q not found in namespace %q", o.Name, o.svcNamespace)
	if list, lerr := o.Client.CoreV1().Services(o.svcNamespace).List(ctx, metav1.ListOptions{}); lerr == nil {
		var names []string
		for _, s := range list.Items {
			names = append(names, s.Name)
		}
		if close := diagnose.Closest(o.Name, names); len(close) > 0 {
			msg += "; did you mean " + strings.Join(close, ", ") + "?"
		} else if len(names) == 0 {
			msg += " (it has no Services; is it the right namespace? -n NAMESPACE)"
		}
	}
	return nil, cannotRun("%s\nlist them with: kubectl -n %s get services", msg, o.svcNamespace)
}

// read turns the Service, its pods and EndpointSlices into the diagnosis input.
func (o *ServiceOptions) read(ctx context.Context, svc *corev1.Service) (diagnose.ServiceInput, []string, error) {
	in := diagnose.ServiceInput{Namespace: svc.Namespace, Name: svc.Name, Type: string(svc.Spec.Type),
		ClusterIP: svc.Spec.ClusterIP, ExternalName: svc.Spec.ExternalName, Selector: svc.Spec.Selector, Domain: o.ClusterDomain}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return in, nil, nil
	}
	// Addresses a Service is also reached at: externalIPs and the load
	// balancer's, which kube-proxy intercepts on every node.
	for _, ip := range svc.Spec.ExternalIPs {
		if _, err := netip.ParseAddr(ip); err == nil && len(in.ExternalIPs) < maxExternalIPs {
			in.ExternalIPs = append(in.ExternalIPs, ip)
		}
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if _, err := netip.ParseAddr(ing.IP); err == nil && len(in.ExternalIPs) < maxExternalIPs {
			in.ExternalIPs = append(in.ExternalIPs, ing.IP)
		}
	}
	var notes []string
	sp, idx, err := pickPort(svc, o.Port)
	if err != nil {
		return in, nil, err
	}
	if len(svc.Spec.Ports) > 1 && o.Port == "" {
		notes = append(notes, fmt.Sprintf("the Service has %d ports; checked %s (choose with --port)", len(svc.Spec.Ports), portLabel(sp)))
	}
	in.Port = diagnose.ServicePort{Name: sp.Name, Protocol: strings.ToLower(string(sp.Protocol)), Port: sp.Port,
		TargetPort: sp.TargetPort.String(), NodePort: sp.NodePort, Index: idx}
	if in.Port.Protocol == "" {
		in.Port.Protocol = "tcp"
	}
	if len(svc.Spec.Selector) > 0 {
		pods, err := o.Client.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
		if err != nil {
			return in, nil, apiError("list the Service's pods", err)
		}
		for _, p := range pods.Items {
			in.Backends = append(in.Backends, backend(p, sp))
		}
		if len(in.Backends) == 0 {
			if all, err := o.Client.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
				var sets []map[string]string
				for _, p := range all.Items {
					sets = append(sets, p.Labels)
				}
				in.Suggest, in.SuggestCount = diagnose.SuggestSelector(svc.Spec.Selector, sets)
			}
		}
	}
	slices, err := o.Client.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
	if err != nil {
		return in, nil, apiError("list the Service's EndpointSlices", err)
	}
	in.Endpoints = endpoints(slices.Items, sp)
	if in.Port.Protocol != "tcp" {
		notes = append(notes, fmt.Sprintf("port %s is %s: connects are TCP-only, so only the name and the proxy rules are checked (--port picks a TCP port; for cluster DNS, kubectl netcheck dns)", portLabel(sp), strings.ToUpper(in.Port.Protocol)))
	}
	return in, notes, nil
}

func pickPort(svc *corev1.Service, want string) (corev1.ServicePort, int, error) {
	if len(svc.Spec.Ports) == 0 {
		return corev1.ServicePort{}, 0, cannotRun("service %s/%s has no ports", svc.Namespace, svc.Name)
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
	return corev1.ServicePort{}, 0, cannotRun("service %s/%s has no port %q; it has: %s", svc.Namespace, svc.Name, want, strings.Join(have, ", "))
}

func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return fmt.Sprintf("%d (%s)", p.Port, p.Name)
	}
	return strconv.Itoa(int(p.Port))
}

// backend describes one selected pod and resolves the targetPort on it.
func backend(p corev1.Pod, sp corev1.ServicePort) diagnose.Backend {
	b := diagnose.Backend{Pod: p.Name, Node: p.Spec.NodeName, IP: p.Status.PodIP}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			b.Ready = true
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

// endpoints lists the slices' addresses for the Service port.
func endpoints(slices []discoveryv1.EndpointSlice, sp corev1.ServicePort) []diagnose.Endpoint {
	var out []diagnose.Endpoint
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
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
			ep := diagnose.Endpoint{Port: port, Ready: ready}
			if e.NodeName != nil {
				ep.Node = *e.NodeName
			}
			if e.TargetRef != nil {
				ep.Pod = e.TargetRef.Name
			}
			for _, a := range e.Addresses {
				ep.IP = a
				out = append(out, ep)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

func anyEndpointReady(es []diagnose.Endpoint) bool {
	for _, e := range es {
		if e.Ready {
			return true
		}
	}
	return false
}

// sampleEndpoints keeps at most max ready endpoints, one per node first,
// so every node that hosts a backend is covered.
func sampleEndpoints(es []diagnose.Endpoint, max int) []diagnose.Endpoint {
	var first, rest []diagnose.Endpoint
	seen := map[string]bool{}
	for _, e := range es {
		if !e.Ready {
			continue
		}
		if !seen[e.Node] {
			seen[e.Node] = true
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

// config turns the Service into checks: from the pod probe the name, the
// ClusterIP and each endpoint; from the node probe the ClusterIP and the
// node's own NodePort; node facts for the other nodes' podCIDRs and the
// Service's proxy rules.
func (o *ServiceOptions) config(in diagnose.ServiceInput) fanout.Config {
	t := o.Timeout
	tcp := in.Port.Protocol == "tcp"
	fqdn := diagnose.ServiceFQDN(in.Name, in.Namespace, in.Domain)
	pod := []probe.Spec{
		{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf},
		{Kind: observe.DNS, ID: diagnose.SvcDNSKey(fqdn), Argv: probe.DNSArgv(fqdn), Classify: probe.ClassifyDNS},
	}
	var vips []facts.VIP
	cip, cipErr := netip.ParseAddr(in.ClusterIP)
	if cipErr == nil {
		vips = append(vips, facts.VIP{Addr: cip, Proto: in.Port.Protocol, Port: int(in.Port.Port)})
		if tcp {
			pod = append(pod, probe.Spec{Kind: observe.TCP, ID: diagnose.SvcClusterIPKey(in.ClusterIP, in.Port.Port), Argv: probe.TCPArgv(in.ClusterIP, int(in.Port.Port), t), Classify: probe.ClassifyTCP})
			if o.HTTP || strings.HasPrefix(in.Port.Name, "http") {
				url := "http://" + net.JoinHostPort(in.ClusterIP, strconv.Itoa(int(in.Port.Port))) + "/"
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
			external = append(external, probe.Spec{Kind: observe.TCP, ID: diagnose.SvcExternalKey(ip, in.Port.Port), Argv: probe.TCPArgv(ip, int(in.Port.Port), t), Classify: probe.ClassifyTCP})
		}
	}
	pod = append(pod, external...)
	if tcp {
		for _, e := range sampleEndpoints(in.Endpoints, maxEndpoints) {
			pod = append(pod, probe.Spec{Kind: observe.TCP, ID: diagnose.SvcEndpointKey(e.IP, e.Port), Argv: probe.TCPArgv(e.IP, int(e.Port), t), Classify: probe.ClassifyTCP})
		}
	}
	targets := podCIDRTargets(in.NodeNets)
	nodeSpecs := func(n corev1.Node) []probe.Spec {
		if !tcp {
			return nil
		}
		var out []probe.Spec
		if cipErr == nil {
			out = append(out, probe.Spec{Kind: observe.TCP, ID: diagnose.SvcClusterIPKey(in.ClusterIP, in.Port.Port), Argv: probe.TCPArgv(in.ClusterIP, int(in.Port.Port), t), Classify: probe.ClassifyTCP})
		}
		if ip := plan.InternalIP(n); in.Port.NodePort != 0 && ip != "" {
			out = append(out, probe.Spec{Kind: observe.TCP, ID: diagnose.SvcNodePortKey(ip, in.Port.NodePort), Argv: probe.TCPArgv(ip, int(in.Port.NodePort), t), Classify: probe.ClassifyTCP})
		}
		// A node reaching its own cluster's external/LB address is a known trap.
		return append(out, external...)
	}
	return fanout.Config{Targets: targets, ChecksOff: true, PodSpecs: pod, NodeSpecs: nodeSpecs, VIPs: vips}
}

// podCIDRTargets stands each node's podCIDR by its first address, for the
// node facts only: its route decision is the route to the whole podCIDR.
func podCIDRTargets(nets []diagnose.NodeNet) []target.Target {
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

func nodeNets(nodes []corev1.Node) []diagnose.NodeNet {
	var out []diagnose.NodeNet
	for _, n := range nodes {
		out = append(out, diagnose.NodeNet{Name: n.Name, IP: plan.InternalIP(n), PodCIDRs: n.Spec.PodCIDRs})
	}
	return out
}
