package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// SearchExpansion tells what the pods' resolv.conf makes of an outside
// name: with fewer dots than ndots, the C resolvers (glibc, musl) try it
// under every search domain before as written (kubernetes#14051) — one
// lookup becomes several queries, each a round trip to CoreDNS, twice
// where A and AAAA are asked. "" when the name is tried as written first.
// The probes' own lookups carry a trailing dot, so they are not affected.
func SearchExpansion(name string, nodes []observe.Node) string {
	name = strings.TrimSuffix(name, ".")
	for _, n := range nodes {
		rc := check(n.Pod.Checks, DNSResolvKey)
		if rc == nil || rc.Outcome != observe.OK || rc.Resolver == nil {
			continue
		}
		r := rc.Resolver
		dots := strings.Count(name, ".")
		if dots >= r.Ndots || len(r.Search) == 0 {
			return ""
		}
		var tried []string
		for _, d := range r.Search {
			tried = append(tried, name+"."+d)
		}
		note := fmt.Sprintf("%s has %d dot(s), fewer than ndots:%d in the pods' resolv.conf: applications' resolvers try %s first, then the name as written — %d queries for one lookup (twice that where A and AAAA are asked). Write it with a trailing dot (%s.) or set the pod's dnsConfig.options ndots: %d",
			name, dots, r.Ndots, strings.Join(tried, ", "), len(tried)+1, name, dots)
		if m := measuredCost(name, nodes); m != "" {
			note += ". " + m
		}
		return note
	}
	return ""
}

// DNSSearchKey is name looked up from a pod as applications do: through
// its search list, and with a trailing dot.
func DNSSearchKey(name string) observe.CheckID {
	return observe.NewCheckID(observe.RoleDNSSearch, strings.TrimSuffix(name, "."), 0)
}

// measuredCost is what the pods' timed lookups of name found, as ranges
// over the nodes; "" when none could run (an image without netcheck-lookup).
func measuredCost(name string, nodes []observe.Node) string {
	var on []string
	var search, dotted []observe.LookupWay
	for _, n := range nodes {
		c := check(n.Pod.Checks, DNSSearchKey(name))
		if c == nil || c.Lookup == nil {
			continue
		}
		on = append(on, n.Name)
		search, dotted = append(search, c.Lookup.Search), append(dotted, c.Lookup.Dotted)
	}
	if len(on) == 0 {
		return ""
	}
	return fmt.Sprintf("Timed from the pods on %s (A and AAAA per name; the median of 3 lookups where it answered): as written %s; with the trailing dot %s",
		strings.Join(on, ", "), wayCost(search), wayCost(dotted))
}

// wayCost is "8 queries, 3.9–4.6 ms", and how it ended when no address came.
func wayCost(ws []observe.LookupWay) string {
	qlo, qhi, mlo, mhi := ws[0].Queries, ws[0].Queries, ws[0].Millis, ws[0].Millis
	var failed []string
	for _, w := range ws {
		qlo, qhi, mlo, mhi = min(qlo, w.Queries), max(qhi, w.Queries), min(mlo, w.Millis), max(mhi, w.Millis)
		if w.Answer == "" && !slices.Contains(failed, w.Rcode) {
			failed = append(failed, w.Rcode)
		}
	}
	s := span(fmt.Sprint(qlo), fmt.Sprint(qhi)) + " queries, " + span(fmt.Sprintf("%.1f", mlo), fmt.Sprintf("%.1f", mhi)) + " ms"
	if len(failed) > 0 {
		s += " and no address (" + strings.Join(failed, ", ") + ")"
	}
	return s
}

func span(lo, hi string) string {
	if lo == hi {
		return lo
	}
	return lo + "–" + hi
}
