package facts

import (
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
				e.OrigSrc = w[4:]
			case 2:
				e.ReplySrc = w[4:]
			}
		case strings.HasPrefix(w, "dst="):
			dsts++
			switch dsts {
			case 1:
				e.OrigDst = w[4:]
			case 2:
				e.ReplyDst = w[4:]
			}
		}
	}
	return e, srcs >= 2 && dsts >= 2
}
