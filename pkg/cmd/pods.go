package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
	"github.com/netcheck/kubectl-netcheck/pkg/workload"
)

// PodsOptions is `kubectl netcheck pods`.
type PodsOptions struct {
	ProbeOptions
	Peers int
	From  string

	from workload.Ref
}

// NewPodsOptions holds the command's defaults.
func NewPodsOptions(streams genericiooptions.IOStreams) *PodsOptions {
	return &PodsOptions{ProbeOptions: NewProbeOptions(streams), Peers: 10}
}

// NewCmdPods builds the command.
func NewCmdPods(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewPodsOptions(streams)
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:   "pods",
		Short: "Check pod-to-pod traffic between every pair of nodes, as a matrix",
		Long: templates.LongDesc(`
Starts a pod probe on every node and, once all are up, has each ping and
TCP-connect every other (a refused connection proves the path: nothing
listens on the port, the peer's kernel answers). The node × node matrix is
read with each node's routes to the other nodes' podCIDRs, its FORWARD chain,
ip_forward and the pod interfaces' MTUs.

Verdicts: a node missing its route to another node's podCIDR (with the route
line that is absent), one node cut off from all others (FORWARD DROP,
ip_forward off, its CNI agent, the overlay port to it), everything between
nodes broken (overlay/underlay: the overlay in use is named), a single pair
broken, MTU differing between nodes.

With --from, each node's checks run in one of the workload's pods there and
go to its pods on the other nodes: the matrix is the workload's own, under
its NetworkPolicies. NetworkPolicies and cluster policies that deny a pair are
named instead of a path verdict.

Every node is probed at once (--concurrency does not apply): each pod needs
the others' addresses.

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: templates.Examples(`  kubectl netcheck pods
  kubectl netcheck pods -l node-role.kubernetes.io/worker -o wide

  # Between the replicas of a workload, as they talk to each other
  kubectl netcheck pods -n shop --from statefulset/db`),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().IntVar(&o.Peers, "peers", o.Peers, "how many other nodes each node's pod checks (0 = all); each node is also checked by as many, so every node is covered")
	o.addFromFlags(cmd, &o.From)
	return cmd
}

// Validate checks --peers besides the shared flags.
func (o *PodsOptions) Validate() error {
	if o.Peers < 0 {
		return cannotRun("--peers %d: give 0 (all) or more", o.Peers)
	}
	var err error
	if o.from, err = o.parseFrom(o.From); err != nil {
		return err
	}
	return o.ProbeOptions.Validate()
}

// Run probes and reports.
func (o *PodsOptions) Run(parent context.Context) error {
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
	policies, unread := o.policies(ctx, sel, members)
	sc := scenario.Pods{Nets: scenario.NodeNets(sel.All), Peers: o.Peers, Timeout: o.Timeout, Policies: policies, As: as}
	run, err := o.probe(ctx, sc, sel)
	if err != nil {
		return err
	}
	for _, n := range []string{unread, o.policyNote(ctx, policies), o.otherPoliciesNote(ctx)} {
		if n != "" {
			run.Notes = append(run.Notes, n)
		}
	}
	return o.finish(sc, "pods", []string{"pod-to-pod between every pair of nodes"}, sel, run, start)
}
