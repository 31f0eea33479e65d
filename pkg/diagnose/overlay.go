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
	// CauseVTEPAddress: the other nodes send a node's overlay traffic to an
	// address it does not send from (flannel's public-ip, k3s#1131).
	CauseVTEPAddress Cause = "overlay-wrong-address"
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
	if o.CNI != observe.CNIFlannel || !o.AgentsRead {
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

// vtepAddresses: every other node's FDB maps a node's VTEP MAC to the
// address its overlay frames are sent to; that must be the address the
// node's own device sends from. A node that advertises another one (the
// wrong interface picked, a NATed public IP) receives nothing.
func vtepAddresses(nodes []observe.Node) []Finding {
	var out []Finding
	for _, x := range nodes {
		o := x.Facts.Overlay
		if o == nil || o.MAC == "" || o.Local == "" {
			continue
		}
		var ev []string
		var wrong string
		if o.LocalOwned != nil && !*o.LocalOwned {
			// flannel sends from the address it advertises: one the node lacks.
			wrong = o.Local
			ev = append(ev, fmt.Sprintf("node@%s: %s sends from %s, which is not an address of this node (ip addr)", x.Name, o.Link, o.Local))
		}
		for _, y := range nodes {
			if y.Name == x.Name || y.Facts.Overlay == nil {
				continue
			}
			if dst, ok := y.Facts.Overlay.FDB[o.MAC]; ok && (dst != o.Local || dst == wrong) {
				wrong = dst
				ev = append(ev, fmt.Sprintf("node@%s: bridge fdb: %s dst %s", y.Name, o.MAC, dst))
			}
		}
		if len(ev) == 0 {
			continue
		}
		summary := fmt.Sprintf("the other nodes send this node's %s traffic to %s, but it sends from and listens on %s: the address flannel advertises for it is wrong, so its pods are cut off", o.Name, wrong, o.Local)
		if wrong == o.Local {
			summary = fmt.Sprintf("flannel advertises %s for this node and its %s sends from it, but the node has no such address: the other nodes' overlay traffic to it goes nowhere, so its pods are cut off", wrong, o.Link)
		} else {
			ev = append(ev, fmt.Sprintf("node@%s: %s sends from %s (%s, mac %s)", x.Name, o.Link, o.Local, o.Dev, o.MAC))
		}
		own := x.IP
		if own == "" {
			own = "<the node's address>"
		}
		out = append(out, Finding{Severity: Error, Cause: CauseVTEPAddress, Nodes: []string{x.Name},
			Summary:  summary,
			Evidence: ev,
			Fix: []string{
				"kubectl get node " + x.Name + " -o jsonpath='{.metadata.annotations.flannel\\.alpha\\.coreos\\.com/public-ip}'   # what flannel advertises",
				"start flanneld on " + x.Name + " with --iface=" + facts.ShellQuote(o.Dev) + " (or --public-ip=" + own + "); K3s: --flannel-iface=" + facts.ShellQuote(o.Dev) + " or --node-external-ip",
			}})
	}
	return out
}
