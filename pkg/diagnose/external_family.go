package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// CauseFamilyUnreachable is a name with addresses in both families of which
// one is reached from the nodes and the other from none: the name's record
// of that family (or the path to it) is wrong, outside the cluster.
const CauseFamilyUnreachable Cause = "name-family-unreachable"

// DualStack says whether the cluster's pods have addresses in both families.
func DualStack(c observe.Cluster) bool {
	v4, v6 := false, false
	for _, s := range c.PodCIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			v4, v6 = v4 || p.Addr().Is4(), v6 || p.Addr().Is6()
		}
	}
	return v4 && v6
}

// FamilyKey identifies a name target's ping in one family.
func FamilyKey(t target.Target, v6 bool) observe.CheckID {
	return observe.NewCheckID(observe.RoleTargetFamily, Key(t), 0).Concerning(familyName(v6))
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// familyReach is what every node side saw of a name in one family.
type familyReach struct {
	ran, reached int // node sides with an outcome, and those that got a reply
	addr         string
	evidence     []string
}

func nameFamily(t target.Target, nodes []observe.Node, v6 bool) familyReach {
	var fr familyReach
	id := FamilyKey(t, v6)
	for _, n := range nodes {
		if n.Err != "" {
			continue
		}
		for _, side := range []struct {
			who  string
			res  observe.SideResult
			node bool
		}{{"pod@" + n.Name, n.Pod, false}, {"node@" + n.Name, n.Host, true}} {
			for _, c := range side.res.Checks {
				if c.ID != id || c.Outcome == observe.NotRun || c.Outcome == observe.Error || c.Outcome == observe.DNSFailure {
					continue // a name without an address of this family is no fault of it
				}
				fr.evidence = append(fr.evidence, describeCheck(side.who, c))
				if !side.node {
					continue // the node sides decide: pods have their own verdicts
				}
				fr.ran++
				if c.Outcome == observe.OK {
					fr.reached++
				}
			}
		}
		for _, c := range n.Host.Checks {
			if c.ID == observe.TargetID(Key(t)) && c.Kind == observe.DNS {
				for _, r := range c.Resolved {
					if a, err := netip.ParseAddr(r); err == nil && a.Is6() == v6 && fr.addr == "" {
						fr.addr = a.String()
					}
				}
			}
		}
	}
	return fr
}

// familyFinding: the name's one family is reached from some node, the other
// family from none. Nil unless both were tried from the nodes.
func familyFinding(t target.Target, nodes []observe.Node) *Finding {
	if !t.IsName() {
		return nil
	}
	v4, v6 := nameFamily(t, nodes, false), nameFamily(t, nodes, true)
	if v4.ran == 0 || v6.ran == 0 || v4.addr == "" || v6.addr == "" {
		return nil // only a name with records in both families, tried in both
	}
	bad, good, badV6 := v4, v6, false
	switch {
	case v4.reached == 0 && v6.reached > 0:
	case v6.reached == 0 && v4.reached > 0:
		bad, good, badV6 = v6, v4, true
	default:
		return nil
	}
	var names []string
	for _, n := range nodes {
		if n.Err == "" {
			names = append(names, n.Name)
		}
	}
	addr := func(fr familyReach) string {
		if fr.addr == "" {
			return "its address"
		}
		return fr.addr
	}
	rec := map[bool]string{false: "A", true: "AAAA"}
	f := Finding{Severity: Warning, Cause: CauseFamilyUnreachable, Target: Key(t), Nodes: names,
		Summary: fmt.Sprintf("%s answers over %s (%s) and not over %s (%s), from no node: its %s record or the %s path to it is wrong, outside the cluster; clients that try %s first fail or wait for a fallback",
			t.Host, familyName(!badV6), addr(good), familyName(badV6), addr(bad), rec[badV6], familyName(badV6), familyName(badV6)),
		Evidence: append(append([]string{}, bad.evidence...), good.evidence...),
		Fix: []string{fmt.Sprintf("nslookup -type=%s %s   # is %s the address the service really has?", strings.ToLower(rec[badV6]), t.Host, addr(bad)),
			fmt.Sprintf("fix or remove the %s record, or the %s route/firewall in front of %s", rec[badV6], familyName(badV6), addr(bad))}}
	return &f
}
