package facts

// One iptables rule's matches against a packet.

import (
	"net/netip"
	"strconv"
	"strings"
)

// matchRule evaluates the matches of a rule (everything before -j).
// It returns matched=false with unknown set when a match it cannot judge
// was the only thing standing between the packet and the target.
func matchRule(toks []string, p *Packet) (matched bool, unknown string) {
	neg := false
	var unknowns []string
	module := ""
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t == "-j" || t == "-g" || t == "--jump" || t == "--goto" {
			break
		}
		if t == "!" {
			neg = true
			continue
		}
		next := func() string {
			if i+1 < len(toks) {
				i++
				return toks[i]
			}
			return ""
		}
		var ok, known = true, true
		switch t {
		case "-s", "--source":
			ok = addrIn(p.Src, next())
		case "-d", "--destination":
			ok = addrIn(p.Dst, next())
		case "-i", "--in-interface":
			ok = ifaceMatch(p.In, next())
		case "-o", "--out-interface":
			ok = ifaceMatch(p.Out, next())
		case "-p", "--protocol":
			v := next()
			ok = v == "all" || v == "0" || strings.EqualFold(v, p.Proto) || (v == "icmpv6" || v == "ipv6-icmp") && p.Proto == "icmp"
		case "-m", "--match":
			module = next()
			continue
		case "--comment":
			next()
			continue
		case "--dport", "--destination-port":
			ok = p.Proto != "icmp" && portIn(p.DPort, next())
		case "--dports", "--destination-ports":
			ok = false
			for _, r := range strings.Split(next(), ",") {
				if p.Proto != "icmp" && portIn(p.DPort, r) {
					ok = true
				}
			}
		case "--sport", "--source-port", "--sports", "--source-ports":
			// Client source ports are ephemeral: a rule on them is not about us.
			next()
			known = false
		case "--mark":
			v, m := parseMark(next())
			ok = p.Mark&m == v
		case "--dst-type":
			ok = addrType(next(), p.DstLocal)
		case "--src-type":
			ok = addrType(next(), p.SrcLocal)
		case "--limit-iface-in", "--limit-iface-out":
			continue
		case "--ctstate", "--state":
			ok = false
			for _, s := range strings.Split(next(), ",") {
				if s == "NEW" {
					ok = true
				}
			}
		default:
			// An option of a module we do not model (set, physdev, statistic,
			// nfacct, ctstatus …): its value, if any, is skipped.
			known = false
			if strings.HasPrefix(t, "-") && i+1 < len(toks) && !strings.HasPrefix(toks[i+1], "-") && toks[i+1] != "!" {
				i++
			}
			if module == "nfacct" || module == "limit" {
				// Accounting and rate limits do not decide whether a packet matches.
				neg = false
				continue
			}
			unknowns = append(unknowns, strings.TrimSpace(module+" "+t))
		}
		if known {
			if neg {
				ok = !ok
			}
			if !ok {
				return false, ""
			}
		}
		neg = false
	}
	if len(unknowns) > 0 {
		return false, strings.Join(unknowns, ", ")
	}
	return true, ""
}

func addrIn(a netip.Addr, spec string) bool {
	if !a.IsValid() {
		return false
	}
	if !strings.Contains(spec, "/") {
		b, err := netip.ParseAddr(spec)
		return err == nil && b == a
	}
	if p, err := netip.ParsePrefix(spec); err == nil {
		return p.Contains(a)
	}
	// iptables-save may print dotted masks: 10.0.0.0/255.0.0.0
	base, mask, _ := strings.Cut(spec, "/")
	b, err1 := netip.ParseAddr(base)
	m, err2 := netip.ParseAddr(mask)
	if err1 != nil || err2 != nil || !b.Is4() || !m.Is4() || !a.Is4() {
		return false
	}
	ab, bb, mb := a.As4(), b.As4(), m.As4()
	for i := range ab {
		if ab[i]&mb[i] != bb[i]&mb[i] {
			return false
		}
	}
	return true
}

func ifaceMatch(have, spec string) bool {
	if strings.HasSuffix(spec, "+") {
		return have != "" && strings.HasPrefix(have, strings.TrimSuffix(spec, "+"))
	}
	return have == spec
}

func portIn(port int, spec string) bool {
	lo, hi, isRange := strings.Cut(spec, ":")
	l, err := strconv.Atoi(lo)
	if err != nil {
		return false
	}
	if !isRange {
		return port == l
	}
	h, err := strconv.Atoi(hi)
	if err != nil {
		h = 65535
	}
	return port >= l && port <= h
}

func addrType(spec string, local bool) bool {
	for _, t := range strings.Split(spec, ",") {
		if t == "LOCAL" && local {
			return true
		}
		if t == "UNICAST" && !local {
			return true
		}
	}
	return false
}
