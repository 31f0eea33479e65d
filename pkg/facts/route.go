package facts

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// ParseRouteGet reads the answer of `ip route get` (iproute2 or busybox).
// out is stdout, errText stderr; the kernel's refusal ("Network is
// unreachable") is kept as Err.
func ParseRouteGet(query, out, errText string) observe.Route {
	r := observe.Route{Query: query}
	first := strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
	if first == "" {
		msg := strings.TrimSpace(errText)
		msg = strings.TrimPrefix(msg, "ip: ")
		msg = strings.TrimPrefix(msg, "RTNETLINK answers: ")
		if msg == "" {
			msg = "no answer"
		}
		r.Err = msg
		return r
	}
	r.Line = first
	f := strings.Fields(first)
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "dev":
			r.Dev = f[i+1]
		case "via":
			r.Via = f[i+1]
		case "src":
			r.Src = f[i+1]
		}
	}
	if len(f) > 0 {
		switch f[0] {
		case "unreachable", "prohibit", "blackhole":
			r.Err = first
		}
	}
	return r
}

// RouteEntry is one line of `ip route show`.
type RouteEntry struct {
	Line   string
	Prefix netip.Prefix
	Via    string
	Dev    string
	Type   string // "" for unicast, else unreachable/blackhole/prohibit
}

// ParseRouteTable reads `ip route show` (one table, one family).
func ParseRouteTable(text string, v6 bool) []RouteEntry {
	var out []RouteEntry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		e := RouteEntry{Line: strings.TrimSpace(line)}
		dst := f[0]
		switch dst {
		case "unreachable", "blackhole", "prohibit", "throw":
			e.Type = dst
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if dst == "default" {
			if v6 {
				dst = "::/0"
			} else {
				dst = "0.0.0.0/0"
			}
		}
		if !strings.Contains(dst, "/") {
			if v6 {
				dst += "/128"
			} else {
				dst += "/32"
			}
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			continue
		}
		e.Prefix = p.Masked()
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "via":
				e.Via = f[i+1]
			case "dev":
				e.Dev = f[i+1]
			}
		}
		out = append(out, e)
	}
	return out
}

// Lookup is the longest-prefix match for a, nil when none.
func Lookup(table []RouteEntry, a netip.Addr) *RouteEntry {
	var best *RouteEntry
	for i := range table {
		e := &table[i]
		if e.Prefix.Contains(a) && (best == nil || e.Prefix.Bits() > best.Prefix.Bits()) {
			best = e
		}
	}
	return best
}

// ParseLinkMTUs reads `ip -o link show`: "2: eth0@if5: <…> mtu 1500 …".
func ParseLinkMTUs(text string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if i := strings.IndexByte(name, '@'); i > 0 {
			name = name[:i]
		}
		for i := 2; i+1 < len(f); i++ {
			if f[i] == "mtu" {
				if v, err := strconv.Atoi(f[i+1]); err == nil {
					out[name] = v
				}
				break
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
