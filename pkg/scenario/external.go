package scenario

import (
	"io"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// KindExternal is the report of `external`.
const KindExternal = "ExternalCheck"

// External is `kubectl netcheck external TARGET...`: addresses outside
// the cluster, reached from a pod and from the node on every node.
//
// Requires: both probes; the cluster's pod and Service CIDRs and the
// egress NetworkPolicies selecting the probe (read by the command).
type External struct {
	Targets []target.Target
	Port    int
	// Timeout bounds each check (--timeout).
	Timeout  time.Duration
	Cluster  observe.Cluster
	Policies diagnose.Policies
	// As runs each named node's pod side as that workload pod (--from).
	As map[string]fanout.Workload
	// Forwards is where CoreDNS sends each name target (its host): the
	// node asks those servers too, beside its own resolvers.
	Forwards map[string]diagnose.Forward
}

// Kind implements Scenario.
func (External) Kind() string { return KindExternal }

// Plan reaches every target from both sides, and measures the path MTU to
// each IPv4 address from both: pods that lose what their node carries have
// an MTU above the path's.
func (s External) Plan() (fanout.Plan, string) {
	var pod, node []probe.Spec
	for _, t := range s.Targets {
		if !t.Addr.Is4() {
			continue
		}
		id := diagnose.TargetMTUKey(t)
		pod = append(pod, probe.Spec{Kind: observe.MTUProbe, ID: id, Argv: probe.PathMTUArgv(t.Addr.String(), "eth0", 1), Classify: probe.ClassifyPathMTU})
		node = append(node, probe.Spec{Kind: observe.MTUProbe, ID: id, Argv: probe.PathMTUArgv(t.Addr.String(), "", 1), Classify: probe.ClassifyPathMTU})
	}
	// A name on a dual-stack cluster is pinged in each family as well: the
	// plain checks take whichever address the resolver puts first.
	if diagnose.DualStack(s.Cluster) {
		for _, t := range s.Targets {
			if !t.IsName() {
				continue
			}
			for _, v6 := range []bool{false, true} {
				spec := probe.Spec{Kind: observe.Ping, ID: diagnose.FamilyKey(t, v6), Argv: probe.PingFamilyArgv(t.Host, v6, s.Timeout), Classify: probe.ClassifyPing}
				pod, node = append(pod, spec), append(node, spec)
			}
		}
	}
	asked := false
	for _, t := range s.Targets {
		fwd, ok := s.Forwards[t.Host]
		if !t.IsName() || !ok || len(fwd.Targets) == 0 {
			continue
		}
		asked = true
		for _, ft := range fwd.Targets {
			node = append(node, probe.Spec{Kind: observe.DNS, ID: diagnose.DNSUpstreamNameKey(ft, t.Host), Argv: probe.DNSArgv(t.Host, ft), Classify: probe.ClassifyDNS})
		}
	}
	if asked {
		node = append(node, probe.Spec{Kind: observe.ResolvConf, ID: diagnose.DNSResolvKey, Argv: probe.ResolvConfArgv(), Classify: probe.ClassifyResolvConf})
	}
	p := fanout.Plan{Reach: s.Targets, Port: s.Port, PodSpecs: pod, As: s.As, Settle: s.Policies.ProbeSettle()}
	if len(node) > 0 {
		p.NodeSpecs = func(corev1.Node) []probe.Spec { return node }
	}
	return p, ""
}

// Diagnose implements Scenario.
func (s External) Diagnose(nodes []observe.Node) []diagnose.Finding {
	return diagnose.External(diagnose.ExternalInput{Targets: s.Targets, Nodes: nodes, Cluster: s.Cluster, Port: s.Port, Policies: s.Policies, Forwards: s.Forwards})
}

// Inputs are the targets as the user typed them, for the report.
func (s External) Inputs() []string {
	var out []string
	for _, t := range s.Targets {
		out = append(out, t.Input)
	}
	return out
}

type externalLayout struct{}

func (externalLayout) Healthy(report.Result) string {
	return "No problems found: pods and nodes reach every target."
}

// Table: a row per node and side (per target when there are several).
func (externalLayout) Table(w io.Writer, r report.Result, wide bool) {
	keys := targetKeys(r)
	multi := len(keys) > 1
	header := []string{"NODE", "FROM", "PING", "TCP/HTTP", "DNS", "ROUTE", "RESULT"}
	if multi {
		header = append([]string{"TARGET"}, header...)
	}
	if wide {
		header = append(header, "PROBE POD", "IP")
	}
	t, flush := report.NewTable(header)
	defer flush(w)
	for _, key := range keys {
		for _, n := range r.Nodes {
			if n.Err != "" {
				row := []string{n.Name, "-", "-", "-", "-", "-", "ERROR"}
				if multi {
					row = append([]string{key.String()}, row...)
				}
				if wide {
					row = append(row, "-", "-")
				}
				t.Append(row)
				continue
			}
			for _, side := range []struct {
				name observe.Side
				res  observe.SideResult
			}{{observe.SidePod, n.Pod}, {observe.SideNode, n.Host}} {
				row := []string{n.Name, string(side.name),
					report.Cell(side.res.Checks, key, observe.Ping),
					report.Cell(side.res.Checks, key, observe.TCP, observe.HTTP),
					report.Cell(side.res.Checks, key, observe.DNS),
					report.RouteCell(n, key.Addr, side.name),
					report.SideResult(side.res.Checks, key, side.res.Err)}
				if side.name == observe.SidePod && blockedByPolicy(r, n.Name, key.Addr) {
					row[len(row)-1] = "BLOCKED (policy)" // an enforcer's REJECT reads as a refusal
				}
				if multi {
					row = append([]string{key.String()}, row...)
				}
				if wide {
					row = append(row, side.res.Pod, side.res.IP)
				}
				t.Append(row)
			}
		}
	}
}

// blockedByPolicy: a network-policy finding names this node for the target.
func blockedByPolicy(r report.Result, node, target string) bool {
	for _, f := range r.Findings {
		if f.Cause == diagnose.CauseNetworkPolicy && f.Target == target && slices.Contains(f.Nodes, node) {
			return true
		}
	}
	return false
}

// targetKeys are the targets the checks name, in their order (the report's
// own list when no check ran).
func targetKeys(r report.Result) []observe.CheckID {
	var keys []observe.CheckID
	seen := map[observe.CheckID]bool{}
	for _, n := range r.Nodes {
		for _, side := range [][]observe.Check{n.Pod.Checks, n.Host.Checks} {
			for _, c := range side {
				if c.ID.Role == observe.RoleTarget && !seen[c.ID] {
					seen[c.ID] = true
					keys = append(keys, c.ID)
				}
			}
		}
	}
	if len(keys) == 0 {
		for _, t := range r.Targets {
			keys = append(keys, observe.TargetID(t))
		}
	}
	return keys
}
