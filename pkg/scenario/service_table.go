package scenario

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

// serviceLayout draws service and api reports (api: no NodePort; TLS
// instead).
type serviceLayout struct{ api bool }

func (l serviceLayout) Healthy(r report.Result) string {
	switch {
	case l.api:
		return "No problems found: pods on every node reach the API server."
	case len(r.Nodes) > 0:
		return "No problems found: the Service answers pods on every node."
	}
	return "No problems found in the Service's objects."
}

// Table: one row per node — the name, the ClusterIP and the endpoints
// from the node's pods, the NodePort from the node itself, and the node's
// proxy rules for the Service.
func (l serviceLayout) Table(w io.Writer, r report.Result, wide bool) {
	if len(r.Nodes) == 0 {
		return
	}
	api := l.api
	header := []string{"NODE", "DNS", "CLUSTER-IP", "ENDPOINTS", "NODEPORT", "PROXY RULES"}
	if api {
		// The API server has no NodePort; TLS takes its place.
		header = []string{"NODE", "DNS", "CLUSTER-IP", "ENDPOINTS", "PROXY RULES", "HTTPS /version"}
	}
	if wide {
		header = append(header, "PROBE POD", "IP")
	}
	t, flush := report.NewTable(header)
	for _, n := range r.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			row := make([]string, len(header))
			for i := range row {
				row[i] = "-"
			}
			row[0], row[len(row)-1] = n.Name, "ERROR"
			t.Append(row)
			continue
		}
		row := []string{n.Name,
			dnsCell(n.Pod.Checks),
			clusterIPCell(n.Pod.Checks),
			endpointsCell(n.Pod.Checks),
			first(n.Host.Checks, observe.RoleNodePort),
			proxyCell(n.Facts.KubeProxy, n.Pod.Checks)}
		if api {
			row = []string{n.Name, dnsCell(n.Pod.Checks), first(n.Pod.Checks, observe.RoleClusterIP), endpointsCell(n.Pod.Checks),
				proxyCell(n.Facts.KubeProxy, n.Pod.Checks), first(n.Pod.Checks, observe.RoleAPIVersion)}
		}
		if wide {
			row = append(row, n.Pod.Pod, n.Pod.IP)
		}
		t.Append(row)
	}
	flush(w)
}

// first shows the first check of a role.
func first(checks []observe.Check, role observe.Role) string {
	for _, c := range checks {
		if c.ID.Role == role {
			return report.Cell(checks, c.ID, c.Kind)
		}
	}
	return "-"
}

// clusterIPCell shows the ClusterIP's check; a dual-stack Service's (a
// ClusterIP checked in each family) each, by family: "IPv4 ok; IPv6 refused".
func clusterIPCell(checks []observe.Check) string {
	var cells []string
	for _, c := range checks {
		if c.ID.Role == observe.RoleClusterIP {
			fam := "IPv4 "
			if strings.Contains(c.ID.Addr, ":") {
				fam = "IPv6 "
			}
			cells = append(cells, fam+report.Cell(checks, c.ID, c.Kind))
		}
	}
	switch len(cells) {
	case 0:
		return "-"
	case 1:
		return first(checks, observe.RoleClusterIP)
	}
	return strings.Join(cells, "; ")
}

func dnsCell(checks []observe.Check) string {
	for _, c := range checks {
		if c.Kind == observe.DNS {
			return report.Cell(checks, c.ID, c.Kind)
		}
	}
	return "-"
}

// endpointsCell counts the endpoints reached directly and names the others.
func endpointsCell(checks []observe.Check) string {
	total, ok := 0, 0
	var bad []string
	for _, c := range checks {
		if c.ID.Role != observe.RoleEndpoint {
			continue
		}
		total++
		if c.Outcome == observe.OK {
			ok++
		} else {
			bad = append(bad, net.JoinHostPort(c.ID.Addr, strconv.Itoa(c.ID.Port))+" "+string(c.Outcome))
		}
	}
	if total == 0 {
		return "-"
	}
	s := fmt.Sprintf("%d/%d ok", ok, total)
	if len(bad) > 0 {
		if len(bad) > 2 {
			bad = append(bad[:2:2], "…")
		}
		s += " (" + strings.Join(bad, ", ") + ")"
	}
	return s
}

// proxyCell says what the node's proxy rules hold for the Service's
// first ClusterIP; for a dual-stack Service (a ClusterIP checked in each
// family), for each, "; " between them.
func proxyCell(kp *observe.KubeProxy, checks []observe.Check) string {
	if kp == nil {
		return "?"
	}
	if len(kp.Services) == 0 {
		return kp.Mode
	}
	var cips []string
	for _, c := range checks {
		if c.ID.Role == observe.RoleClusterIP && c.ID.Port != 0 {
			cips = append(cips, net.JoinHostPort(c.ID.Addr, strconv.Itoa(c.ID.Port)))
		}
	}
	if len(cips) < 2 {
		return serviceRulesCell(kp.Mode, kp.Services[0])
	}
	var cells []string
	for _, cip := range cips {
		for _, sr := range kp.Services {
			if strings.HasPrefix(sr.VIP, cip+"/") {
				fam := "IPv4 "
				if strings.HasPrefix(cip, "[") {
					fam = "IPv6 "
				}
				cells = append(cells, fam+serviceRulesCell(kp.Mode, sr))
			}
		}
	}
	if len(cells) == 0 {
		return serviceRulesCell(kp.Mode, kp.Services[0])
	}
	return strings.Join(cells, "; ")
}

func serviceRulesCell(mode string, sr observe.ServiceRules) string {
	switch {
	case sr.Programmed == observe.No && mode == "none":
		return "none (no kube-proxy rules)"
	case sr.Programmed == observe.No:
		return mode + ": missing"
	case sr.Programmed == observe.Unknown:
		return mode + ": unknown"
	case sr.Rejects:
		return mode + ": REJECT (no endpoints)"
	case sr.Endpoints >= 0:
		return fmt.Sprintf("%s: %d endpoints", mode, sr.Endpoints)
	}
	return mode + ": present"
}
