package report

import (
	"io"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// printPodsMatrix: a row per source node, a column per destination node;
// each cell is what the pod on the row's node saw of the pod on the column's.
func printPodsMatrix(w io.Writer, r Result) {
	if len(r.Nodes) == 0 {
		return
	}
	header := []string{"FROM \\ TO"}
	for _, n := range r.Nodes {
		header = append(header, n.Name)
	}
	t, flush := newTable(header)
	for _, from := range r.Nodes {
		row := []string{from.Name}
		for _, to := range r.Nodes {
			row = append(row, peerCell(from, to.Name))
		}
		t.Append(row)
	}
	flush(w)
}

func peerCell(from observe.Node, to string) string {
	if from.Name == to {
		return "-"
	}
	if from.Err != "" || from.Pod.Err != "" {
		return "ERROR"
	}
	var ping, tcp, full string
	for _, c := range from.Pod.Checks {
		if c.ID.Role == observe.RolePeerMTU && c.ID.Of == to && c.Outcome.Failed() {
			full = ", full-size " + string(c.Outcome) // small packets pass, large ones do not
		}
		if c.ID.Role != observe.RolePeer || c.ID.Of != to {
			continue
		}
		switch c.Kind {
		case observe.Ping:
			ping = cell(from.Pod.Checks, c.ID, observe.Ping)
			if c.Outcome != observe.OK {
				ping = "ping " + string(c.Outcome)
			}
		case observe.TCP:
			tcp = "tcp ok"
			if c.Outcome != observe.OK && c.Outcome != observe.Refused {
				tcp = "tcp " + string(c.Outcome)
			}
		}
	}
	switch {
	case ping == "" && tcp == "":
		return "not run"
	case strings.HasPrefix(ping, "ok") && tcp == "tcp ok":
		return ping + full
	}
	return strings.TrimSpace(ping+", "+tcp) + full
}
