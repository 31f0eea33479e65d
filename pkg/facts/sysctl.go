package facts

import (
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Sysctls are the kernel settings the node probe prints as "path:value".
type Sysctls struct {
	IPForward, BridgeNF          observe.Tri
	IP6Forward                   observe.Tri // net.ipv6.conf.all.forwarding
	ConntrackCount, ConntrackMax int
	SELinux                      string // "enforcing", "permissive" or "" (absent)
}

// ParseSysctls reads `grep -H . /proc/sys/...` output; a setting not
// printed (absent, unreadable) stays unknown.
func ParseSysctls(text string) Sysctls {
	sc := Sysctls{IPForward: observe.Unknown, BridgeNF: observe.Unknown, IP6Forward: observe.Unknown}
	for _, line := range strings.Split(text, "\n") {
		path, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		tri := observe.No
		if val != "0" {
			tri = observe.Yes
		}
		switch path {
		case "/proc/sys/net/ipv4/ip_forward":
			sc.IPForward = tri
		case "/proc/sys/net/ipv6/conf/all/forwarding":
			sc.IP6Forward = tri
		case "/proc/sys/net/bridge/bridge-nf-call-iptables":
			sc.BridgeNF = tri
		case "/proc/sys/net/netfilter/nf_conntrack_count":
			sc.ConntrackCount, _ = strconv.Atoi(val)
		case "/proc/sys/net/netfilter/nf_conntrack_max":
			sc.ConntrackMax, _ = strconv.Atoi(val)
		case "/sys/fs/selinux/enforce":
			sc.SELinux = map[string]string{"1": "enforcing", "0": "permissive"}[val]
		}
	}
	return sc
}

// ParseHairpin lists the bridge ports whose hairpin mode is off: a pod
// behind such a port cannot reach itself through a Service IP.
func ParseHairpin(text string) (off []string, ports int) {
	for _, line := range strings.Split(text, "\n") {
		path, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		ports++
		if strings.TrimSpace(val) == "0" {
			// /sys/class/net/<port>/brport/hairpin_mode
			parts := strings.Split(path, "/")
			if len(parts) >= 5 {
				off = append(off, parts[4])
			}
		}
	}
	return off, ports
}
