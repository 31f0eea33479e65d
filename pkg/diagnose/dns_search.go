package diagnose

import (
	"fmt"
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
		return fmt.Sprintf("%s has %d dot(s), fewer than ndots:%d in the pods' resolv.conf: applications' resolvers try %s first, then the name as written — %d queries for one lookup (twice that where A and AAAA are asked). Write it with a trailing dot (%s.) or set the pod's dnsConfig.options ndots: %d",
			name, dots, r.Ndots, strings.Join(tried, ", "), len(tried)+1, name, dots)
	}
	return ""
}
