package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
)

// NodeOptions is `kubectl netcheck node`.
type NodeOptions struct {
	ProbeOptions
}

// NewNodeOptions holds the command's defaults.
func NewNodeOptions(streams genericiooptions.IOStreams) *NodeOptions {
	return &NodeOptions{ProbeOptions: NewProbeOptions(streams)}
}

// NewCmdNode builds the command.
func NewCmdNode(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewNodeOptions(streams)
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Check each node's own network settings that every pod depends on",
		Long: templates.LongDesc(`
Reads, on every selected node, the settings pod traffic depends on — without
contacting anything: net.ipv4.ip_forward, bridge-nf-call-iptables (br_netfilter),
the FORWARD chain and the masquerade rules as they apply to a pod's packet
leaving the cluster (walked for 192.0.2.1, a documentation address that is
routed, never sent to), conntrack fill, and the pod network's MTU against the
uplink's. Each problem comes with the node, the evidence and the fix.

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: templates.Examples(`  kubectl netcheck node
  kubectl netcheck node --node worker-3 -o json`),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// Run probes and reports.
func (o *NodeOptions) Run(parent context.Context) error {
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
	run, err := o.probe(ctx, scenario.Node{}, sel)
	if err != nil {
		return err
	}
	return o.finish(scenario.Node{}, "node", nil, sel, run, start)
}
