package scenario

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// KindNode is the report of `node`.
const KindNode = "NodeCheck"

// Node is `kubectl netcheck node`: each node's own settings, read without
// contacting anything. The FORWARD and NAT rules are walked for a
// documentation address (routed like any outside address, never sent to).
//
// Requires: the node probe (facts only); no check is run.
type Node struct{}

// Kind implements Scenario.
func (Node) Kind() string { return KindNode }

// Plan reads the facts of one sample outside flow.
func (Node) Plan() (fanout.Plan, string) {
	var samples []target.Target
	for _, k := range []string{diagnose.SampleKey, diagnose.SampleKey6} {
		sample, err := target.Parse(k)
		if err != nil {
			panic("the sample address does not parse: " + err.Error()) // a constant: a test catches it
		}
		samples = append(samples, sample)
	}
	return fanout.Plan{Consider: samples}, ""
}

// Diagnose implements Scenario.
func (Node) Diagnose(nodes []observe.Node) []diagnose.Finding { return diagnose.Node(nodes) }

type nodeLayout struct{}

func (nodeLayout) Healthy(report.Result) string {
	return "No problems found in the nodes' network settings."
}

// Table: one row per node, a column per setting.
func (nodeLayout) Table(w io.Writer, r report.Result, _ bool) {
	t, flush := report.NewTable([]string{"NODE", "IP_FORWARD", "BRIDGE-NF", "FORWARD", "MASQUERADE", "CONNTRACK", "MTU POD/UPLINK", "SELINUX"})
	for _, n := range r.Nodes {
		if n.Err != "" || n.Host.Err != "" {
			t.Append([]string{n.Name, "-", "-", "-", "-", "-", "-", "ERROR"})
			continue
		}
		f := n.Facts
		fwd, masq, mtu := "?", "?", "-"
		for _, tf := range f.Targets {
			if tf.Target != diagnose.SampleKey {
				continue // the IPv6 sample's verdicts are findings, not columns
			}
			fwd, masq = report.Tri(tf.Forward.Result), report.Tri(tf.NAT.Result)
			if tf.Forward.Action != "" {
				fwd += " (" + tf.Forward.Action + ")"
			}
			if p, u := f.MTUs[f.PodDev], f.MTUs[tf.NodeRoute.Dev]; p > 0 && u > 0 {
				mtu = fmt.Sprintf("%s %d / %s %d", f.PodDev, p, tf.NodeRoute.Dev, u)
			}
		}
		ct := "-"
		if f.ConntrackMax > 0 {
			ct = fmt.Sprintf("%d/%d", f.ConntrackCount, f.ConntrackMax)
		}
		se := f.SELinux
		if se == "" {
			se = "-"
		}
		ipf := report.Tri(f.IPForward)
		if slices.ContainsFunc(f.PodCIDRs, func(c string) bool { return strings.Contains(c, ":") }) {
			ipf += "/" + report.Tri(f.IP6Forward) // dual-stack: IPv4/IPv6
		}
		t.Append([]string{n.Name, ipf, report.Tri(f.BridgeNF), fwd, masq, ct, mtu, se})
	}
	flush(w)
}
