package facts

import (
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// overlays are the pod-network encapsulations known by their device name,
// with the way they travel between nodes and the bytes they add.
var overlays = []observe.Overlay{
	{Link: "flannel.1", Name: "flannel VXLAN", CNI: observe.CNIFlannel, Encap: observe.EncapVXLAN, Port: "VXLAN UDP 8472", Overhead: 50, DstPort: 8472},
	{Link: "flannel-wg", Name: "flannel WireGuard", CNI: observe.CNIFlannel, Encap: observe.EncapWireGuard, Port: "WireGuard UDP 51820", Overhead: 80, DstPort: 51820},
	{Link: "vxlan.calico", Name: "Calico VXLAN", CNI: observe.CNICalico, Encap: observe.EncapVXLAN, Port: "VXLAN UDP 4789", Overhead: 50, DstPort: 4789},
	{Link: "tunl0", Name: "IP-in-IP", Encap: observe.EncapIPIP, Port: "IP protocol 4 (IP-in-IP)", Overhead: 20},
	{Link: "cilium_vxlan", Name: "Cilium VXLAN", CNI: observe.CNICilium, Encap: observe.EncapVXLAN, Port: "VXLAN UDP 8472", Overhead: 50, DstPort: 8472},
	{Link: "cilium_geneve", Name: "Cilium Geneve", CNI: observe.CNICilium, Encap: observe.EncapGeneve, Port: "Geneve UDP 6081", Overhead: 50, DstPort: 6081},
	{Link: "genev_sys_6081", Name: "Geneve", Encap: observe.EncapGeneve, Port: "Geneve UDP 6081", Overhead: 50, DstPort: 6081},
	{Link: "cilium_wg0", Name: "Cilium WireGuard", CNI: observe.CNICilium, Encap: observe.EncapWireGuard, Port: "WireGuard UDP 51820", Overhead: 80, DstPort: 51820},
	{Link: "wg0", Name: "WireGuard", Encap: observe.EncapWireGuard, Port: "WireGuard UDP 51820", Overhead: 80, DstPort: 51820},
	{Link: "weave", Name: "Weave", CNI: observe.CNIWeave, Encap: observe.EncapWeave, Port: "Weave TCP 6783 / UDP 6783-6784", Overhead: 50},
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

// VXLANDevice is one line of `ip -d -o link show type vxlan`.
type VXLANDevice struct {
	Name, Local, Dev, MAC string
	VNI, DstPort, MTU     int
}

// ParseVXLAN reads `ip -d -o link show type vxlan` (iproute2).
func ParseVXLAN(text string) []VXLANDevice {
	var out []VXLANDevice
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(strings.ReplaceAll(line, `\`, " "))
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		d := VXLANDevice{Name: strings.TrimSuffix(f[1], ":")}
		d.Name, _, _ = strings.Cut(d.Name, "@")
		inVXLAN := false
		for i := 0; i+1 < len(f); i++ {
			switch v := f[i+1]; {
			case f[i] == "mtu":
				d.MTU, _ = strconv.Atoi(v)
			case f[i] == "link/ether":
				d.MAC = v
			case f[i] == "vxlan" && v == "id" && i+2 < len(f):
				inVXLAN = true
				d.VNI, _ = strconv.Atoi(f[i+2])
			case inVXLAN && f[i] == "local":
				d.Local = v
			case inVXLAN && f[i] == "dev":
				d.Dev = v
			case inVXLAN && f[i] == "dstport":
				d.DstPort, _ = strconv.Atoi(v)
			}
		}
		if inVXLAN {
			out = append(out, d)
		}
	}
	return out
}

// ParseFDB reads `bridge fdb show dev DEV`: remote MAC → destination
// address (the entries flannel writes: "MAC dst IP self permanent").
func ParseFDB(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "dst" && len(f) > 0 && strings.Count(f[0], ":") == 5 && f[0] != "00:00:00:00:00:00" {
				out[f[0]] = f[i+1]
			}
		}
	}
	return out
}

// ParseNeigh reads `ip neigh show dev DEV`: address → MAC.
func ParseNeigh(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "lladdr" {
				out[f[0]] = f[i+1]
			}
		}
	}
	return out
}

// ParseEnvFile reads KEY=VALUE lines (flannel's subnet.env).
func ParseEnvFile(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k != "" && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// ParseAddrs reads `ip -o addr show`: the node's addresses.
func ParseAddrs(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				a, _, _ := strings.Cut(f[i+1], "/")
				out[a] = true
			}
		}
	}
	return out
}
