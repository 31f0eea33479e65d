// Package scenario holds each command's question, whole: which checks run
// on which side and which facts are read (the plan), the diagnosis entry
// point, and the table. pkg/cmd reads flags and the API into a scenario's
// inputs; fanout runs its plan; the scenario judges and draws the result.
// Adding a command is one file here, one registry line and its golden files.
package scenario

import (
	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

// Scenario is one command's question.
type Scenario interface {
	// Kind names the report ("ServiceCheck"); it selects the Layout.
	Kind() string
	// Plan is what every node's trip runs. A non-empty skip says why no
	// probe pod is started at all (the objects alone answer).
	Plan() (p fanout.Plan, skip string)
	// Diagnose judges what the nodes saw.
	Diagnose(nodes []observe.Node) []diagnose.Finding
}

// Entry is one command in the registry.
type Entry struct {
	Command string
	Kind    string
	Layout  report.Layout
}

// Registry lists every command's report kind and layout, in help order.
var Registry = []Entry{
	{"external", KindExternal, externalLayout{}},
	{"node", KindNode, nodeLayout{}},
	{"dns", KindDNS, dnsLayout{}},
	{"service", KindService, serviceLayout{}},
	{"api", KindAPI, serviceLayout{api: true}},
	{"pods", KindPods, podsLayout{}},
}

// LayoutOf is the layout of a report kind (the targets table for an
// unknown one).
func LayoutOf(kind string) report.Layout {
	for _, e := range Registry {
		if e.Kind == kind {
			return e.Layout
		}
	}
	return externalLayout{}
}
