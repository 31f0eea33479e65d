package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// DNSOptions is `kubectl netcheck dns`.
type DNSOptions struct {
	ProbeOptions
	Name       string
	DNSService string // namespace/name
}

// NewCmdDNS builds the command.
func NewCmdDNS(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DNSOptions{ProbeOptions: ProbeOptions{ConfigFlags: flags, IOStreams: streams}}
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Check cluster DNS end to end, from a pod on every node",
		Long: strings.TrimSpace(`
Checks cluster DNS: the DNS Service and its pods (ready, restarts), then from a
pod on every node the pod's resolv.conf, a lookup through the Service IP, and a
lookup sent to each DNS pod directly. Comparing them tells "no DNS server is
ready" from "the Service path on node X is broken (kube-proxy)" from "node X's
pods reach no DNS pod (route, overlay, FORWARD DROP)" from "the server itself
does not answer".

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: `  kubectl netcheck dns
  kubectl netcheck dns --name kubernetes.default.svc.corp.local`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Name, "name", "kubernetes.default.svc.cluster.local", "the name every probe resolves (use your cluster domain)")
	cmd.Flags().StringVar(&o.DNSService, "dns-service", "kube-system/kube-dns", "the cluster DNS Service, namespace/name")
	return cmd
}

// Validate checks --name besides the shared flags.
func (o *DNSOptions) Validate() error {
	if err := target.ValidateDNSName(o.Name); err != nil {
		return cannotRun("--name: %v", err)
	}
	return o.ProbeOptions.Validate()
}

// servers reads the DNS Service and the pods behind it.
func (o *DNSOptions) servers(ctx context.Context) (string, []diagnose.DNSServer, error) {
	ns, name, ok := strings.Cut(o.DNSService, "/")
	if !ok {
		return "", nil, cannotRun("--dns-service %q: give namespace/name", o.DNSService)
	}
	svc, err := o.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil, cannotRun("DNS Service %s not found: pass yours with --dns-service namespace/name", o.DNSService)
	}
	if err != nil {
		return "", nil, apiError("read the DNS Service "+o.DNSService, err)
	}
	pods, err := o.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return "", nil, apiError("list the DNS pods", err)
	}
	var out []diagnose.DNSServer
	for _, p := range pods.Items {
		s := diagnose.DNSServer{Name: p.Name, Node: p.Spec.NodeName, IP: p.Status.PodIP}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				s.Ready = true
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
	return svc.Spec.ClusterIP, out, nil
}

// Run probes and reports.
func (o *DNSOptions) Run(parent context.Context) error {
	start := time.Now()
	ctx, stop, err := o.begin(parent)
	if err != nil {
		return err
	}
	defer stop()
	clusterIP, servers, err := o.servers(ctx)
	if err != nil {
		return err
	}
	in := diagnose.DNSInput{Service: o.DNSService, ClusterIP: clusterIP, Name: o.Name, Servers: servers}
	sel, err := o.selectNodes(ctx)
	if err != nil {
		return err
	}
	specs := []probe.Spec{{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf}}
	if clusterIP != "" && clusterIP != corev1.ClusterIPNone {
		specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSServiceKey(clusterIP), Argv: probe.DNSArgv(o.Name, clusterIP), Classify: probe.ClassifyDNS})
	}
	for _, s := range servers {
		if s.Ready && s.IP != "" {
			specs = append(specs, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSPodKey(s.IP), Argv: probe.DNSArgv(o.Name, s.IP), Classify: probe.ClassifyDNS})
		}
	}
	var run probeRun
	if anyReady(servers) {
		sample, _ := target.Parse(diagnose.SampleKey)
		run, err = o.launchAndProbe(ctx, fanout.Config{Targets: []target.Target{sample}, ChecksOff: true, PodSpecs: specs}, sel)
		if err != nil {
			return err
		}
	} else {
		run.Notes = append(run.Notes, "no DNS server is ready: no probe pod was started")
	}
	in.Nodes = run.Nodes
	return o.finish("DNSCheck", "dns", []string{fmt.Sprintf("%s (%s) for %s", o.DNSService, clusterIP, o.Name)}, sel, run, diagnose.DNS(in), start)
}

func anyReady(s []diagnose.DNSServer) bool {
	for _, x := range s {
		if x.Ready {
			return true
		}
	}
	return false
}
