package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
	"github.com/netcheck/kubectl-netcheck/pkg/workload"
)

// DNSOptions is `kubectl netcheck dns`.
type DNSOptions struct {
	ProbeOptions
	Name       string
	DNSService string // namespace/name
	From       string

	from workload.Ref
}

// NewDNSOptions holds the command's defaults.
func NewDNSOptions(streams genericiooptions.IOStreams) *DNSOptions {
	return &DNSOptions{ProbeOptions: NewProbeOptions(streams), Name: "kubernetes.default.svc.cluster.local", DNSService: "kube-system/kube-dns"}
}

// NewCmdDNS builds the command.
func NewCmdDNS(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDNSOptions(streams)
	o.ConfigFlags = flags
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
  kubectl netcheck dns --name kubernetes.default.svc.corp.local

  # As a workload resolves: its pods' network namespace and resolv.conf (dnsPolicy, dnsConfig)
  kubectl netcheck dns -n shop --from deployment/web`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Name, "name", o.Name, "the name every probe resolves (use your cluster domain)")
	cmd.Flags().StringVar(&o.DNSService, "dns-service", o.DNSService, "the cluster DNS Service, namespace/name")
	o.addFromFlags(cmd, &o.From)
	return cmd
}

// Validate checks --name besides the shared flags.
func (o *DNSOptions) Validate() error {
	if err := target.ValidateDNSName(o.Name); err != nil {
		return cannotRun("--name: %v", err)
	}
	var err error
	if o.from, err = o.parseFrom(o.From); err != nil {
		return err
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
	return svc.Spec.ClusterIP, scenario.DNSServers(pods.Items), nil
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
	sc := scenario.DNS{In: in}
	if o.From != "" {
		if sel, sc.As, _, err = o.asWorkload(ctx, o.from, sel); err != nil {
			return err
		}
	}
	run, err := o.probe(ctx, sc, sel)
	if err != nil {
		return err
	}
	return o.finish(sc, "dns", []string{fmt.Sprintf("%s (%s) for %s", o.DNSService, clusterIP, o.Name)}, sel, run, start)
}
