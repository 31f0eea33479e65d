package scenario

import (
	"io"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

type podsLayout struct{}

func (podsLayout) Healthy(report.Result) string {
	return "No problems found: every node's pods reach every other node's pods."
}

// Table: a row per source node, a column per destination node; each cell
// is what the pod on the row's node saw of the pod on the column's.
func (podsLayout) Table(w io.Writer, r report.Result, _ bool) {
	if len(r.Nodes) == 0 {
		return
	}
	header := []string{"FROM \\ TO"}
	for _, n := range r.Nodes {
		header = append(header, n.Name)
	}
	t, flush := report.NewTable(header)
	for _, from := range r.Nodes {
		row := []string{from.Name}
		for _, to := range r.Nodes {
			row = append(row, peerCell(from, to.Name))
		}
		t.Append(row)
	}
	flush(w)
}

// peerCell: the first family's ping (or what failed), then on dual-stack
// pods the other family's, "ok 210µs, IPv6 ok 180µs".
func peerCell(from observe.Node, to string) string {
	if from.Name == to {
		return "-"
	}
	if from.Err != "" || from.Pod.Err != "" {
		return "ERROR"
	}
	cell, family := familyCell(from, to, observe.RolePeer), ""
	for _, c := range from.Pod.Checks {
		if c.ID.Role == observe.RolePeerFamily && c.ID.Of == to {
			family = observe.FamilyOf(c.ID.Addr)
			break
		}
	}
	if family == "" {
		return cell
	}
	return cell + ", " + family + " " + familyCell(from, to, observe.RolePeerFamily)
}

// familyCell is what from's pod saw of the pod on to through the checks of role.
func familyCell(from observe.Node, to string, role observe.Role) string {
	var ping, tcp, full string
	pingOK, tcpOK := false, false
	for _, c := range from.Pod.Checks {
		if role == observe.RolePeer && c.ID.Role == observe.RolePeerMTU && c.ID.Of == to && c.Outcome.Failed() {
			full = ", full-size " + string(c.Outcome) // small packets pass, large ones do not
		}
		if c.ID.Role != role || c.ID.Of != to {
			continue
		}
		switch c.Kind {
		case observe.Ping:
			ping, pingOK = report.Cell(from.Pod.Checks, c.ID, observe.Ping), c.Outcome == observe.OK
			if !pingOK {
				ping = "ping " + string(c.Outcome)
			}
		case observe.TCP:
			// Refused is an answer: the peer's pod is there.
			tcp, tcpOK = "tcp ok", c.Outcome == observe.OK || c.Outcome == observe.Refused
			if !tcpOK {
				tcp = "tcp " + string(c.Outcome)
			}
		}
	}
	switch {
	case ping == "" && tcp == "":
		return "not run"
	case pingOK && tcpOK:
		return ping + full
	}
	return strings.TrimSpace(ping+", "+tcp) + full
}
