package facts

import "github.com/netcheck/kubectl-netcheck/pkg/observe"

// overlays are the pod-network encapsulations known by their device name,
// with the way they travel between nodes and the bytes they add.
var overlays = []observe.Overlay{
	{Link: "flannel.1", Name: "flannel VXLAN", Port: "VXLAN UDP 8472", Overhead: 50},
	{Link: "flannel-wg", Name: "flannel WireGuard", Port: "WireGuard UDP 51820", Overhead: 80},
	{Link: "vxlan.calico", Name: "Calico VXLAN", Port: "VXLAN UDP 4789", Overhead: 50},
	{Link: "tunl0", Name: "IP-in-IP", Port: "IP protocol 4 (IP-in-IP)", Overhead: 20},
	{Link: "cilium_vxlan", Name: "Cilium VXLAN", Port: "VXLAN UDP 8472", Overhead: 50},
	{Link: "cilium_geneve", Name: "Cilium Geneve", Port: "Geneve UDP 6081", Overhead: 50},
	{Link: "genev_sys_6081", Name: "Geneve", Port: "Geneve UDP 6081", Overhead: 50},
	{Link: "cilium_wg0", Name: "Cilium WireGuard", Port: "WireGuard UDP 51820", Overhead: 80},
	{Link: "wg0", Name: "WireGuard", Port: "WireGuard UDP 51820", Overhead: 80},
	{Link: "weave", Name: "Weave", Port: "Weave TCP 6783 / UDP 6783-6784", Overhead: 50},
}

// DetectOverlay names the node's pod-network encapsulation from its links
// (interface → MTU); nil when it has none of the known devices.
func DetectOverlay(links map[string]int) *observe.Overlay {
	for _, o := range overlays {
		if _, ok := links[o.Link]; ok {
			o := o
			return &o
		}
	}
	return nil
}
