package plan

import (
	"fmt"
	"net/netip"

	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// Targets parses the arguments. A CIDR is probed at the --host addresses
// inside it, or at its first usable address when none is given.
func Targets(args, hosts []string) ([]target.Target, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("no target given: e.g. `kubectl netcheck external 192.168.2.0/24` or `... external db.example.com:5432`")
	}
	var hostAddrs []netip.Addr
	for _, h := range hosts {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return nil, fmt.Errorf("--host %q: not an IP address", h)
		}
		hostAddrs = append(hostAddrs, a)
	}
	used := make([]bool, len(hostAddrs))
	var out []target.Target
	seen := map[string]bool{}
	add := func(t target.Target) {
		k := t.Kind.String() + "|" + t.String() + "|" + t.Host
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	for _, a := range args {
		t, err := target.Parse(a)
		if err != nil {
			return nil, err
		}
		if t.Kind != target.KindCIDR {
			add(t)
			continue
		}
		inside := false
		for i, h := range hostAddrs {
			if t.Prefix.Contains(h) {
				used[i], inside = true, true
				ht := t
				ht.Addr, ht.Host = h, h.String()
				add(ht)
			}
		}
		if !inside {
			add(t)
		}
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("--host %s is not inside any CIDR target", hostAddrs[i])
		}
	}
	return out, nil
}
