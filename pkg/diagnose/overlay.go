package diagnose

// The overlay's own faults, from one node's facts: its encapsulated
// traffic refused at the node's input hook, its agent (flanneld) not
// running, flannel's lease missing.

import (
	"fmt"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Overlay causes.
const (
	CauseOverlayBlocked Cause = "overlay-blocked"
	CauseFlannelDown    Cause = "flannel-down"
)

// overlayFindings judges n's overlay. lost says whether pods on n lose
// pods on other nodes: it turns a stale agent from a warning into the cause.
func overlayFindings(n observe.Node, lost bool) []Finding {
	o := n.Facts.Overlay
	if o == nil {
		return nil
	}
	var out []Finding
	if f := overlayBlocked(n, o); f != nil {
		out = append(out, *f)
	}
	if f := flannelDown(n, o, lost); f != nil {
		out = append(out, *f)
	}
	return out
}

func overlayBlocked(n observe.Node, o *observe.Overlay) *Finding {
	var dropped []string
	var v observe.Verdict
	for _, in := range o.Inbound {
		if in.Verdict.Result == observe.No {
			dropped = append(dropped, in.From)
			v = in.Verdict
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	where := "filter INPUT"
	if v.Hook != "" {
		where = "" // verdictEvidence names the hook
	}
	ev := []string{fmt.Sprintf("node@%s: %s %s: packets from %s to %s udp/%d", n.Name, o.Name, o.Link, strings.Join(dropped, ", "), o.Local, o.DstPort)}
	ev = append(ev, verdictEvidence(n.Name, where, v)...)
	return &Finding{Severity: Error, Cause: CauseOverlayBlocked, Nodes: []string{n.Name},
		Summary:  fmt.Sprintf("the node's firewall drops the %s traffic of the other nodes (UDP %d) at its input: pods on it and pods elsewhere cannot reach each other", o.Name, o.DstPort),
		Evidence: ev,
		Fix:      facts.FixerFor(v.Datapath).AllowInbound(v, "udp", o.DstPort, strings.Join(dropped, ","))}
}

// flannelDown: flannel's device or lease is there, flanneld is not (K3s
// runs flannel inside its own process: then nothing is claimed).
func flannelDown(n observe.Node, o *observe.Overlay, lost bool) *Finding {
	if !strings.HasPrefix(o.Link, "flannel") || !o.AgentsRead {
		return nil
	}
	for _, a := range o.Agents {
		if a == "flanneld" || strings.HasPrefix(a, "k3s") {
			return nil
		}
	}
	ev := []string{"node@" + n.Name + ": no flanneld process (nor k3s, which embeds flannel)"}
	if o.LeaseRead {
		ev = append(ev, "node@"+n.Name+": /run/flannel/subnet.env: FLANNEL_SUBNET="+o.Lease["FLANNEL_SUBNET"])
	} else {
		ev = append(ev, "node@"+n.Name+": /run/flannel/subnet.env is missing: the flannel CNI plugin cannot give new pods an address")
	}
	f := &Finding{Severity: Warning, Cause: CauseFlannelDown, Nodes: []string{n.Name},
		Summary:  "flanneld is not running on this node: the routes and VXLAN entries it left still carry pods, but nothing updates them when a node joins, leaves or changes address",
		Evidence: ev,
		Fix: []string{"kubectl -n kube-flannel get pods -o wide --field-selector spec.nodeName=" + n.Name,
			"kubectl -n kube-flannel delete pod -l app=flannel --field-selector spec.nodeName=" + n.Name + "   # its DaemonSet starts a fresh one",
			"or, where flanneld is a system service on the node: systemctl restart flanneld; journalctl -u flanneld"}}
	if lost || !o.LeaseRead {
		f.Severity = Error
		f.Summary = "flanneld is not running on this node, and its pod network is broken with it"
	}
	return f
}

// overlayCause is the error-level overlay finding of a node, if any.
func overlayCause(n observe.Node) *Finding {
	for _, f := range overlayFindings(n, true) {
		if f.Severity == Error {
			return &f
		}
	}
	return nil
}
