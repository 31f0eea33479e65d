package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
	"github.com/netcheck/kubectl-netcheck/pkg/workload"
)

// ExternalOptions is `kubectl netcheck external`.
type ExternalOptions struct {
	ProbeOptions
	Args  []string
	Hosts []string
	Port  int
	From  string

	targets []target.Target
	from    workload.Ref
}

const externalExample = `  # Pods can't reach 192.168.2.x behind a static route, nodes can: why?
  kubectl netcheck external 192.168.2.0/24

  # A subnet, probed at given hosts, with a TCP check on 5432 beside ping
  kubectl netcheck external 192.168.2.0/24 --host 192.168.2.10 --host 192.168.2.11 --port 5432

  # A database by name and port, and an HTTP health endpoint, from two nodes only
  kubectl netcheck external db.corp.example:5432 http://192.168.2.20:8080/health --node worker-1 --node worker-2

  # As the workload would: in its pods' network namespaces, under its NetworkPolicies
  kubectl netcheck external 198.19.0.10 --port 443 -n shop --from deployment/web

  # Machine-readable
  kubectl netcheck external 10.20.0.0/16 -o json`

// NewExternalOptions holds the command's defaults.
func NewExternalOptions(streams genericiooptions.IOStreams) *ExternalOptions {
	return &ExternalOptions{ProbeOptions: NewProbeOptions(streams)}
}

// NewCmdExternal builds the command.
func NewCmdExternal(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewExternalOptions(streams)
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:   "external TARGET...",
		Short: "Can pods, and the nodes under them, reach an outside address? If not, why?",
		Long: templates.LongDesc(`
Checks whether pods reach addresses outside the cluster, and compares with the
nodes under them. TARGET is an IPv4/IPv6 address, a CIDR, a DNS name,
host:port, or an http(s):// URL.

On every selected node, a pod probe (pod network) and a node probe (privileged,
hostNetwork) run ping, TCP/HTTP and DNS checks. The node probe reads the
node's route to the target, the route for pod traffic, the NAT POSTROUTING and
filter FORWARD rules as they apply to the pod's packet, ip_forward, and the
conntrack entry of the pod's flow. The verdict names the cause (missing route,
missing masquerade, FORWARD drop, ip_forward off, CIDR overlap, DNS, a fault
outside the cluster) on the nodes where it holds, with the fix.

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: templates.Examples(externalExample),
		Args:    cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.Args = args
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.Hosts, "host", nil, "for a CIDR target: probe this address in it (repeatable; default: the first usable address)")
	cmd.Flags().IntVar(&o.Port, "port", 0, "also TCP-connect to this port on IP and CIDR targets")
	o.addFromFlags(cmd, &o.From)
	return cmd
}

// Validate checks the targets and flags.
func (o *ExternalOptions) Validate() error {
	ts, err := plan.Targets(o.Args, o.Hosts)
	if err != nil {
		return cannotRun("%v", err)
	}
	if o.Port < 0 || o.Port > 65535 {
		return cannotRun("--port %d: give 1-65535", o.Port)
	}
	o.targets = ts
	if o.from, err = o.parseFrom(o.From); err != nil {
		return err
	}
	return o.ProbeOptions.Validate()
}

// Run probes and reports.
func (o *ExternalOptions) Run(parent context.Context) error {
	start := time.Now()
	ctx, stop, err := o.begin(parent)
	if err != nil {
		return err
	}
	defer stop()
	sel, err := o.selectNodes(ctx)
	if err != nil {
		return err
	}
	var as map[string]fanout.Workload
	var members map[string]workload.Member
	if o.From != "" {
		if sel, as, members, err = o.asWorkload(ctx, o.from, sel); err != nil {
			return err
		}
	}
	cidrs, cidrNote := o.serviceCIDRs(ctx)
	cluster := observe.Cluster{PodCIDRs: nodeCIDRs(sel.All), ServiceCIDRs: cidrs}
	policies, unread := o.policies(ctx, sel, members)

	sc := scenario.External{Targets: o.targets, Port: o.Port, Timeout: o.Timeout, Cluster: cluster, Policies: policies, As: as}
	var corefile *diagnose.Corefile
	for _, t := range o.targets {
		if !t.IsName() {
			continue
		}
		if corefile == nil { // where CoreDNS sends names: a private zone needs a stub domain
			c := clusterCorefile(ctx, o.Client)
			corefile, sc.Forwards = &c, map[string]diagnose.Forward{}
		}
		sc.Forwards[t.Host] = corefile.ForwardFor(t.Host)
	}
	run, err := o.probe(ctx, sc, sel)
	if err != nil {
		return err
	}
	for _, n := range []string{cidrNote, unread, o.policyNote(ctx, policies), o.otherPoliciesNote(ctx)} {
		if n != "" {
			run.Notes = append(run.Notes, n)
		}
	}
	return o.finish(sc, "external", sc.Inputs(), sel, run, start)
}

// serviceCIDRs reads the cluster's ServiceCIDR objects when the API has
// them (Kubernetes ≥ 1.33); without them overlap with Services is not
// checked, and the note says why when the API refused.
func (o *ExternalOptions) serviceCIDRs(ctx context.Context) ([]string, string) {
	list, err := o.Client.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, unreadNote("list servicecidrs", "overlap of the targets with the Service network was not checked", err)
	}
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Spec.CIDRs...)
	}
	return out, ""
}

// unreadNote tells the user what was not checked because the API refused
// a read; a resource the API does not serve (NotFound) needs no note.
func unreadNote(what, consequence string, err error) string {
	if apierrors.IsNotFound(err) {
		return ""
	}
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("not allowed to %s: %s", what, consequence)
	}
	return fmt.Sprintf("could not %s (%s): %s", what, launch.StatusMessage(err), consequence)
}
