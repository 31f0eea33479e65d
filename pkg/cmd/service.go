package cmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
	"github.com/netcheck/kubectl-netcheck/pkg/workload"
)

// ServiceOptions is `kubectl netcheck service NAME`.
type ServiceOptions struct {
	ProbeOptions
	Name          string
	Port          string // name or number of the Service port; "" = the first
	HTTP          bool
	ClusterDomain string
	Hairpin       bool
	From          string

	svcNamespace string
	from         workload.Ref
}

// NewServiceOptions holds the command's defaults.
func NewServiceOptions(streams genericiooptions.IOStreams) *ServiceOptions {
	return &ServiceOptions{ProbeOptions: NewProbeOptions(streams), ClusterDomain: "cluster.local"}
}

// NewCmdService builds the command.
func NewCmdService(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewServiceOptions(streams)
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:     "service NAME",
		Aliases: []string{"svc"},
		Short:   "Find why a Service does not answer, from a pod and the node on every node",
		Long: templates.LongDesc(`
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
probe pods go to --probe-namespace (default: netcheck, dedicated to them);
--from tests as one of your workloads instead.

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: templates.Examples(`  kubectl netcheck service web -n shop
  kubectl netcheck service web -n shop --port 8443 --from deploy/frontend
  kubectl netcheck svc api --node worker-1 -o json`),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeNames("service"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Port, "port", "", "the Service port to check, by name or number (default: the first)")
	cmd.Flags().BoolVar(&o.HTTP, "http", false, "also GET http://CLUSTER-IP:PORT/ (default: when the port's name or appProtocol says http)")
	cmd.Flags().StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS domain, for the Service's FQDN")
	o.addFromFlags(cmd, &o.From)
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
	var err error
	if o.from, err = o.parseFrom(o.From); err != nil {
		return err
	}
	if o.From != "" {
		if o.Hairpin {
			return cannotRun("--from and --hairpin: pick one (--hairpin runs in the Service's own backends)")
		}
	}
	if o.Hairpin && o.DryRun == "client" {
		return cannotRun("--dry-run=client and --hairpin: a dry run cannot show the change to your backends; run the dry run without --hairpin to see the probe pods")
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
	g, err := o.gather(ctx, func(s *scenario.Service) scenario.Scenario { return s })
	if err != nil {
		return err
	}
	return o.finish(g.sc, "service", []string{g.desc}, g.sel, g.run, start)
}

// gathered is one Service read and probed.
type gathered struct {
	sc   scenario.Scenario
	sel  plan.Selected
	run  probeRun
	desc string
}

// gather reads the Service into its scenario, which as wraps (the api
// command's adds HTTPS), and probes it from every node; --hairpin's checks
// run beside the probes and land in the Service scenario before judging.
func (o *ServiceOptions) gather(ctx context.Context, as func(*scenario.Service) scenario.Scenario) (gathered, error) {
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
	var from map[string]fanout.Workload
	var members map[string]workload.Member
	if o.From != "" {
		if sel, from, members, err = o.asWorkload(ctx, o.from, sel); err != nil {
			return g, err
		}
	}
	pods := in.Policies.Pods
	var unread string
	in.Policies, unread = o.policies(ctx, sel, members, in.Namespace)
	in.Policies.Pods = pods
	for _, n := range []string{unread, o.otherPoliciesNote(ctx)} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	in.NodeNets = scenario.NodeNets(sel.All)
	g.desc = fmt.Sprintf("service %s/%s port %d/%s", in.Namespace, in.Name, in.Port.Port, in.Port.Protocol)
	if in.Type == string(corev1.ServiceTypeExternalName) {
		g.desc = fmt.Sprintf("service %s/%s (ExternalName %s)", in.Namespace, in.Name, in.ExternalName)
	}
	ss := &scenario.Service{In: in, HTTP: o.HTTP, Timeout: o.Timeout, As: from}
	sc := as(ss)
	var hairpin []diagnose.HairpinCheck
	var hairpinNotes []string
	hairpinDone := make(chan struct{})
	if _, skip := sc.Plan(); o.Hairpin && skip == "" {
		probed := map[string]bool{}
		for _, n := range sel.Nodes {
			probed[n.Name] = true
		}
		go func() {
			defer close(hairpinDone)
			hairpin, hairpinNotes = o.hairpinChecks(ctx, in, probed)
		}()
	} else {
		close(hairpinDone)
	}
	run, err := o.probe(ctx, sc, sel)
	<-hairpinDone
	if err != nil {
		return g, err
	}
	ss.In.Hairpin = hairpin
	run.Notes = append(append(notes, run.Notes...), hairpinNotes...)
	g.sc, g.sel, g.run = sc, sel, run
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
	in, sp, notes, err := scenario.ServiceInput(svc, o.Port, o.ClusterDomain)
	if err != nil {
		return in, nil, cannotRun("%v", err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return in, nil, nil
	}
	if len(svc.Spec.Selector) > 0 {
		pods, err := o.Client.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
		if err != nil {
			return in, nil, apiError("list the Service's pods", err)
		}
		nsLabels := map[string]string{"kubernetes.io/metadata.name": svc.Namespace}
		if n, err := o.Client.CoreV1().Namespaces().Get(ctx, svc.Namespace, metav1.GetOptions{}); err == nil {
			nsLabels = n.Labels
		}
		in.Policies.Pods = map[string]netpol.Pod{}
		for _, p := range pods.Items {
			in.Backends = append(in.Backends, scenario.Backend(p, sp))
			// Every address of the pod: a dual-stack Service's endpoints are of both families.
			for _, ip := range append([]string{p.Status.PodIP}, podIPs(p)...) {
				if ip != "" {
					in.Policies.Pods[ip] = scenario.PolicyPod(p, nsLabels)
				}
			}
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
	in.Endpoints, in.Slices = scenario.Endpoints(slices.Items, sp), scenario.Slices(slices.Items)
	return in, notes, nil
}

// podIPs are the pod's status.podIPs, as the API wrote them (keys only).
func podIPs(p corev1.Pod) []string {
	var out []string
	for _, pi := range p.Status.PodIPs {
		out = append(out, pi.IP)
	}
	return out
}
