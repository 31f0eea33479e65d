// Package diagnose turns observations into findings. It is a pure function
// of what the probes saw: no Kubernetes calls, no I/O, so every rule is
// tested table-driven with observations captured from real tools.
package diagnose

import (
	"sort"
	"strings"
)

// Cause is the typed reason behind a finding.
type Cause string

// The causes netcheck can name.
const (
	CauseHealthy        Cause = "healthy"
	CauseMissingRoute   Cause = "missing-route"
	CauseMissingNAT     Cause = "missing-nat"
	CauseForwardDrop    Cause = "forward-drop"
	CauseIPForwardOff   Cause = "ip-forward-off"
	CauseCIDROverlap    Cause = "cidr-overlap"
	CauseOutside        Cause = "outside-cluster"
	CauseNodeLocal      Cause = "node-local"
	CauseICMPBlocked    Cause = "icmp-blocked"
	CauseDNS            Cause = "dns"
	CauseNetworkPolicy  Cause = "network-policy"
	CauseBeyondNode     Cause = "beyond-node"
	CauseInconclusive   Cause = "inconclusive"
	CauseProbeFailed    Cause = "probe-failed"
	CauseNodeOnlyFails  Cause = "node-side-only"
	CauseNameUnresolved Cause = "name-unresolved"
	// CauseUnseenDrop: dropped in the forward path by nothing the rules read show.
	CauseUnseenDrop Cause = "unseen-drop"
)

// Severity orders findings.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Finding is one named cause with what it rests on and how to fix it.
type Finding struct {
	Severity Severity `json:"severity"`
	Cause    Cause    `json:"cause"`
	Target   string   `json:"target,omitempty"`
	Nodes    []string `json:"nodes,omitempty"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"`
	Fix      []string `json:"fix,omitempty"`
	// Candidates lists other causes still possible when the evidence is ambiguous, most likely first.
	Candidates []string `json:"candidates,omitempty"`
}

func (f Finding) mergeKey() string {
	return string(f.Cause) + "\x00" + f.Target + "\x00" + f.Summary + "\x00" + strings.Join(f.Fix, "\n")
}

// merge folds findings that differ only in their node into one, keeping
// every node's evidence, so a fault on 50 nodes reads as one finding.
func merge(in []Finding) []Finding {
	var out []Finding
	idx := map[string]int{}
	for _, f := range in {
		k := f.mergeKey()
		if i, ok := idx[k]; ok {
			for _, n := range f.Nodes {
				if !contains(out[i].Nodes, n) {
					out[i].Nodes = append(out[i].Nodes, n)
				}
			}
			for _, e := range f.Evidence {
				if !contains(out[i].Evidence, e) {
					out[i].Evidence = append(out[i].Evidence, e)
				}
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, f)
	}
	rank := map[Severity]int{Error: 0, Warning: 1, Info: 2}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Severity] < rank[out[j].Severity] })
	for i := range out {
		sort.Strings(out[i].Nodes)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// probeFailed is the finding for a node that could not be probed, why
// being the first error of the node or its sides that is set.
func probeFailed(node string, why ...string) Finding {
	msg := ""
	for _, w := range why {
		if w != "" {
			msg = w
			break
		}
	}
	return Finding{Severity: Error, Cause: CauseProbeFailed, Nodes: []string{node},
		Summary: "node could not be probed", Evidence: []string{node + ": " + msg}}
}

// HasProblems reports whether any finding is a warning or an error.
func HasProblems(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity != Info {
			return true
		}
	}
	return false
}
