package diagnose

import (
	"fmt"
	"strings"
)

// CauseDNSForwardLoop is when CoreDNS's loop plugin saw its own query come back
// and stopped the server (coredns#2087): CoreDNS forwards to the resolv.conf
// the kubelet gave it, and that names a loopback resolver (systemd-resolved's
// 127.0.0.53), which inside the pod is CoreDNS itself.
const CauseDNSForwardLoop Cause = "dns-forward-loop"

// LoopLine is the loop plugin's fatal message in a DNS pod's log ("" when
// there is none): `[FATAL] plugin/loop: Loop (127.0.0.1:43512 -> :53)
// detected for zone ".", …`.
func LoopLine(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "plugin/loop: Loop (") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// forwardLoop is the finding for the DNS pods whose last run ended in a
// detected loop.
func forwardLoop(in DNSInput, servers []string) (Finding, bool) {
	var nodes, ev []string
	for _, s := range in.Servers {
		if s.Loop != "" {
			nodes = append(nodes, s.Node)
			ev = append(ev, fmt.Sprintf("%s on %s, last run: %s", s.Name, s.Node, s.Loop))
		}
	}
	if len(nodes) == 0 {
		return Finding{}, false
	}
	nodes = uniq(nodes)
	f := Finding{Severity: Error, Cause: CauseDNSForwardLoop, Nodes: nodes,
		Summary:  "CoreDNS stops itself with a forward loop: its outside queries come back to it. The resolv.conf the kubelet gives CoreDNS's pods names a loopback resolver (systemd-resolved's 127.0.0.53), and inside the pod that address is CoreDNS itself",
		Evidence: append(ev, servers...)}
	switch {
	case in.Forward.ResolvConf:
		f.Evidence = append(f.Evidence, in.Forward.Source+": "+in.Forward.Line+"   (the pods' resolv.conf, which the kubelet copies from the node's)")
	case in.Forward.Line != "":
		f.Evidence = append(f.Evidence, in.Forward.Source+": "+in.Forward.Line)
	case in.Forward.Err != "":
		f.Evidence = append(f.Evidence, in.Forward.Source+": forward target unknown ("+in.Forward.Err+")")
	}
	cm := in.Forward.ConfigMap
	if cm == "" {
		cm = "kube-system/coredns"
	}
	ns, name, _ := strings.Cut(cm, "/")
	f.Fix = []string{
		"on " + strings.Join(nodes, ", ") + ": give the kubelet the resolv.conf with the real upstream, not the loopback stub: resolvConf: /run/systemd/resolve/resolv.conf in the kubelet configuration (/var/lib/kubelet/config.yaml, or --resolv-conf), then restart the kubelet",
		fmt.Sprintf("kubectl -n %s delete pod -l k8s-app=kube-dns   # new CoreDNS pods get the new resolv.conf", ns),
		fmt.Sprintf("or forward to the upstream itself: kubectl -n %s edit configmap %s   # forward . <upstream resolver IP> instead of /etc/resolv.conf", ns, name),
	}
	return f, true
}
