package facts

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// ParseConntrack reads /proc/net/nf_conntrack or `conntrack -L` lines and
// keeps those of flows from src to dst.
func ParseConntrack(text, src, dst string) []observe.ConntrackEntry {
	var out []observe.ConntrackEntry
	for _, line := range strings.Split(text, "\n") {
		e, ok := parseConntrackLine(line)
		if !ok || e.OrigSrc != src || e.OrigDst != dst {
			continue
		}
		out = append(out, e)
	}
	return out
}

// ConntrackAddr is a as /proc/net/nf_conntrack prints it: IPv6 in full.
func ConntrackAddr(a netip.Addr) string {
	if !a.Is6() || a.Is4In6() {
		return a.Unmap().String()
	}
	b := a.As16()
	g := make([]string, 8)
	for i := range g {
		g[i] = fmt.Sprintf("%02x%02x", b[2*i], b[2*i+1])
	}
	return strings.Join(g, ":")
}

// short is an address in its usual form, so that the kernel's full IPv6
// and conntrack -L's short one compare equal.
func short(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

func parseConntrackLine(line string) (observe.ConntrackEntry, bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return observe.ConntrackEntry{}, false
	}
	e := observe.ConntrackEntry{Raw: strings.TrimSpace(line)}
	srcs, dsts := 0, 0
	for _, w := range f {
		switch {
		case w == "tcp" || w == "udp" || w == "icmp" || w == "icmpv6" || w == "sctp":
			if e.Proto == "" {
				e.Proto = w
			}
		case w == "[UNREPLIED]":
			e.Unreplied = true
		case strings.HasPrefix(w, "src="):
			srcs++
			switch srcs {
			case 1:
				e.OrigSrc = short(w[4:])
			case 2:
				e.ReplySrc = short(w[4:])
			}
		case strings.HasPrefix(w, "dst="):
			dsts++
			switch dsts {
			case 1:
				e.OrigDst = short(w[4:])
			case 2:
				e.ReplyDst = short(w[4:])
			}
		}
	}
	return e, srcs >= 2 && dsts >= 2
}
