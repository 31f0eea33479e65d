// Package plan decides what a run tests and on which nodes, before
// anything is created on the cluster.
package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// NodeSelection is what the user asked for.
type NodeSelection struct {
	Names       []string // --node, repeatable; empty = all
	MaxNodes    int      // --max-nodes; 0 = no limit
	SkipTainted bool     // --skip-tainted
}

// Skipped is a node left out, and why.
type Skipped struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// Selected is the outcome of node selection.
type Selected struct {
	Nodes []corev1.Node `json:"-"`
	// All is every listed node, for cluster-wide facts such as pod CIDRs.
	All     []corev1.Node `json:"-"`
	Skipped []Skipped     `json:"skipped,omitempty"`
	// Sampled is set when --max-nodes left healthy nodes out.
	Sampled string `json:"sampled,omitempty"`
}

const zoneLabel = "topology.kubernetes.io/zone"

// SelectNodes picks the nodes to probe from the listed ones (already
// filtered by -l). It never silently drops a node: each one left out is
// in Skipped with a reason the user can act on.
func SelectNodes(all []corev1.Node, sel NodeSelection) (Selected, error) {
	byName := map[string]corev1.Node{}
	for _, n := range all {
		byName[n.Name] = n
	}
	candidates := all
	if len(sel.Names) > 0 {
		candidates = nil
		var unknown []string
		seen := map[string]bool{}
		for _, name := range sel.Names {
			n, ok := byName[name]
			if !ok {
				unknown = append(unknown, name)
				continue
			}
			if !seen[name] {
				seen[name] = true
				candidates = append(candidates, n)
			}
		}
		if len(unknown) > 0 {
			return Selected{}, fmt.Errorf("node(s) not found: %s; known nodes: %s", strings.Join(unknown, ", "), knownNodes(all))
		}
	}
	out := Selected{All: all}
	for _, n := range candidates {
		if reason := skipReason(n, sel.SkipTainted); reason != "" {
			out.Skipped = append(out.Skipped, Skipped{Node: n.Name, Reason: reason})
			continue
		}
		out.Nodes = append(out.Nodes, n)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	if sel.MaxNodes > 0 && len(out.Nodes) > sel.MaxNodes {
		total := len(out.Nodes)
		out.Nodes = sample(out.Nodes, sel.MaxNodes)
		out.Sampled = fmt.Sprintf("probing %d of %d eligible nodes (--max-nodes), one per zone first", len(out.Nodes), total)
	}
	if len(out.Nodes) == 0 {
		if len(all) == 0 {
			return out, fmt.Errorf("no nodes match: check the -l/--selector and --node flags")
		}
		var why []string
		for _, s := range out.Skipped {
			why = append(why, s.Node+": "+s.Reason)
		}
		return out, fmt.Errorf("no node can be probed:\n  %s", strings.Join(why, "\n  "))
	}
	return out, nil
}

func knownNodes(all []corev1.Node) string {
	var names []string
	for _, n := range all {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" … (%d in all)", len(names))
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

func skipReason(n corev1.Node, skipTainted bool) string {
	if os := n.Labels[corev1.LabelOSStable]; os != "" && os != "linux" {
		return fmt.Sprintf("%s node: the probes need Linux", os)
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				ready = true
			} else {
				return fmt.Sprintf("NotReady (%s: %s)", c.Reason, c.Message)
			}
		}
	}
	if !ready {
		return "NotReady (no Ready condition reported)"
	}
	if skipTainted {
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				return fmt.Sprintf("tainted %s=%s:%s (--skip-tainted)", t.Key, t.Value, t.Effect)
			}
		}
		if n.Spec.Unschedulable {
			return "cordoned (--skip-tainted)"
		}
	}
	return ""
}

// sample keeps max nodes, taking one per zone round-robin so a broken
// zone is not sampled away.
func sample(nodes []corev1.Node, max int) []corev1.Node {
	zones := map[string][]corev1.Node{}
	var order []string
	for _, n := range nodes {
		z := n.Labels[zoneLabel]
		if _, ok := zones[z]; !ok {
			order = append(order, z)
		}
		zones[z] = append(zones[z], n)
	}
	sort.Strings(order)
	var out []corev1.Node
	for len(out) < max {
		progress := false
		for _, z := range order {
			if len(zones[z]) > 0 && len(out) < max {
				out = append(out, zones[z][0])
				zones[z] = zones[z][1:]
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// InternalIP is the node's InternalIP address (kube-proxy serves NodePorts
// on it), "" when it has none that parses.
func InternalIP(n corev1.Node) string {
	if ips := InternalIPs(n); len(ips) > 0 {
		return ips[0]
	}
	return ""
}

// InternalIPs are all the node's InternalIPs that parse, in the API's
// order: a dual-stack node has one per family.
func InternalIPs(n corev1.Node) []string {
	var out []string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if _, err := netip.ParseAddr(a.Address); err == nil {
				out = append(out, a.Address)
			}
		}
	}
	return out
}
