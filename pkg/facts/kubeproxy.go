package facts

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// VIP is a Service address to look for in a node's proxy rules.
type VIP struct {
	Addr  netip.Addr // ClusterIP; invalid for a NodePort
	Proto string     // "tcp", "udp", "sctp"
	Port  int        // the Service port, or the node port when Addr is invalid
}

// Key names the VIP in facts and findings.
func (v VIP) Key() string {
	if !v.Addr.IsValid() {
		return fmt.Sprintf("nodeport %d/%s", v.Port, v.Proto)
	}
	return net.JoinHostPort(v.Addr.String(), strconv.Itoa(v.Port)) + "/" + v.Proto
}

// ProxyInput is what a node printed about its Service proxy.
type ProxyInput struct {
	Sets []Ruleset
	// Sets6 are the ip6tables dumps: an IPv6 ClusterIP's rules live there.
	Sets6 []Ruleset
	Links map[string]int // interface → MTU; only the names matter here
	// Processes lists proxy processes found running; ProcessesRead says whether the list was read.
	Processes     []string
	ProcessesRead bool
	IPVSAddrs     string   // `ip -o addr show dev kube-ipvs0`
	Nft           Nftables // the native tables, kube-proxy's among them in nftables mode
}

// KubeProxy finds the proxy mode and, for each VIP, whether the node's
// rules serve it. kube-proxy programs every Service on every node, so a
// VIP missing on one node is that node's kube-proxy not running or not
// synced.
func KubeProxy(in ProxyInput, vips []VIP) observe.KubeProxy {
	kp := observe.KubeProxy{Processes: in.Processes, ProcessesRead: in.ProcessesRead}
	_, ipvs := in.Links["kube-ipvs0"]
	hasChain := false
	for _, rs := range in.Sets {
		if rs["nat"]["KUBE-SERVICES"] != nil {
			hasChain = true
		}
	}
	nft := in.Nft.HasKubeProxy()
	switch {
	case ipvs:
		kp.Mode = "ipvs"
	case hasChain:
		kp.Mode = "iptables"
	case nft:
		kp.Mode = "nftables"
	default:
		kp.Mode = "none"
	}
	for _, v := range vips {
		var sr observe.ServiceRules
		switch kp.Mode {
		case "iptables":
			sets := in.Sets
			if v.Addr.Is6() {
				sets = in.Sets6
			}
			sr = iptablesRules(sets, v)
		case "ipvs":
			sr = ipvsRules(in.IPVSAddrs, v)
		case "nftables":
			sr = nftRules(in.Nft, v)
		default:
			sr = observe.ServiceRules{Programmed: observe.No, Endpoints: -1}
			if len(in.Sets) == 0 || otherProxy(kp.Processes) {
				// Rules unread, or a CNI replaces kube-proxy (eBPF): no verdict.
				sr.Programmed = observe.Unknown
			}
		}
		sr.VIP = v.Key()
		kp.Services = append(kp.Services, sr)
	}
	return kp
}

// otherProxy reports a Service datapath other than kube-proxy.
func otherProxy(procs []string) bool {
	for _, p := range procs {
		if p != "kube-proxy" {
			return true
		}
	}
	return false
}

// iptablesRules looks for the VIP's jump in nat KUBE-SERVICES (or
// KUBE-NODEPORTS) and counts the endpoints behind it; kube-proxy writes
// a REJECT in filter instead when the Service has no endpoints.
func iptablesRules(sets []Ruleset, v VIP) observe.ServiceRules {
	sr := observe.ServiceRules{Programmed: observe.No, Endpoints: -1}
	chain := "KUBE-SERVICES"
	if !v.Addr.IsValid() {
		chain = "KUBE-NODEPORTS"
	}
	for _, rs := range sets {
		for _, r := range rulesFor(rs["nat"][chain], v) {
			tgt, _ := ruleTarget(r.Tokens)
			sr.Programmed = observe.Yes
			sr.Rules = append(sr.Rules, r.Raw)
			n := countEndpoints(rs["nat"], tgt, 0)
			if sr.Endpoints < 0 {
				sr.Endpoints = 0
			}
			sr.Endpoints += n
		}
		for _, fc := range []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS"} {
			for _, r := range rulesFor(rs["filter"][fc], v) {
				if tgt, _ := ruleTarget(r.Tokens); tgt == "REJECT" || tgt == "DROP" {
					sr.Programmed, sr.Rejects, sr.Endpoints = observe.Yes, true, 0
					sr.Rules = append(sr.Rules, r.Raw)
				}
			}
		}
	}
	return sr
}

// rulesFor returns the chain's rules that match the VIP's address, protocol and port.
func rulesFor(c *Chain, v VIP) []Rule {
	if c == nil {
		return nil
	}
	var out []Rule
	for _, r := range c.Rules {
		var dst, proto, dport string
		for i := 0; i+1 < len(r.Tokens); i++ {
			switch r.Tokens[i] {
			case "-d":
				dst = r.Tokens[i+1]
			case "-p":
				proto = r.Tokens[i+1]
			case "--dport":
				dport = r.Tokens[i+1]
			}
		}
		if proto != v.Proto || dport != strconv.Itoa(v.Port) {
			continue
		}
		if v.Addr.IsValid() {
			if p, err := netip.ParsePrefix(dst); err != nil || !p.Contains(v.Addr) || p.Bits() != v.Addr.BitLen() {
				if a, err := netip.ParseAddr(dst); err != nil || a != v.Addr {
					continue
				}
			}
		} else if dst != "" {
			continue // the localhost NodePort variant; the plain one follows
		}
		out = append(out, r)
	}
	return out
}

// countEndpoints counts KUBE-SEP jumps reachable from a service chain
// (KUBE-EXT → KUBE-SVC/KUBE-SVL → KUBE-SEP).
func countEndpoints(nat map[string]*Chain, name string, depth int) int {
	c := nat[name]
	if c == nil || depth > 4 {
		return 0
	}
	n := 0
	for _, r := range c.Rules {
		tgt, _ := ruleTarget(r.Tokens)
		switch {
		case strings.HasPrefix(tgt, "KUBE-SEP-"):
			n++
		case strings.HasPrefix(tgt, "KUBE-SVC-"), strings.HasPrefix(tgt, "KUBE-SVL-"):
			n += countEndpoints(nat, tgt, depth+1)
		}
	}
	return n
}

// ipvsRules: in ipvs mode every ClusterIP is bound to kube-ipvs0. The
// virtual server table itself needs ipvsadm, which nodes rarely have.
func ipvsRules(addrs string, v VIP) observe.ServiceRules {
	sr := observe.ServiceRules{Programmed: observe.Unknown, Endpoints: -1}
	if !v.Addr.IsValid() {
		return sr
	}
	sr.Programmed = observe.No
	for _, line := range strings.Split(addrs, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil && p.Addr() == v.Addr {
					sr.Programmed = observe.Yes
					sr.Rules = append(sr.Rules, "kube-ipvs0: "+strings.TrimSpace(line))
				}
			}
		}
	}
	return sr
}
