package facts

// Matching one nft rule expression against the pod's packet: fields,
// sets (named, anonymous, intervals), ranges. What it cannot judge it says.

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
)

// match judges one match expression against p; why is set when it cannot.
func (nf Nftables) match(t *NftTable, raw json.RawMessage, p Packet) (bool, string) {
	var m struct {
		Op          string
		Left, Right json.RawMessage
	}
	if json.Unmarshal(raw, &m) != nil {
		return false, "an unreadable match"
	}
	have, why := p.field(m.Left)
	if why != "" {
		return false, why
	}
	in, why := nf.contains(t, m.Right, have)
	if why != "" {
		return false, why
	}
	switch m.Op {
	case "!=":
		return !in, ""
	case "==", "in", "":
		return in, ""
	}
	return false, "operator " + m.Op
}

// value is one field of the packet: an address, a number or a name.
type value struct {
	addr  netip.Addr
	num   int
	name  string
	kind  byte // 'a', 'n', 's'
	isNil bool // the packet has no such field (a TCP port of an ICMP packet)
}

// field reads the packet's value for a match's left side.
func (p Packet) field(raw json.RawMessage) (value, string) {
	var l map[string]json.RawMessage
	if json.Unmarshal(raw, &l) != nil {
		return value{}, "a match on " + string(raw)
	}
	if pl, ok := l["payload"]; ok {
		var f struct{ Protocol, Field string }
		_ = json.Unmarshal(pl, &f)
		switch {
		case (f.Protocol == "ip" || f.Protocol == "ip6") && (f.Field == "saddr" || f.Field == "daddr"):
			if (f.Protocol == "ip6") != p.Dst.Is6() {
				return value{isNil: true}, ""
			}
			if f.Field == "saddr" {
				return value{addr: p.Src, kind: 'a'}, ""
			}
			return value{addr: p.Dst, kind: 'a'}, ""
		case (f.Protocol == "tcp" || f.Protocol == "udp" || f.Protocol == "th") && f.Field == "dport":
			if p.DPort == 0 || (f.Protocol != "th" && f.Protocol != p.Proto) {
				return value{isNil: true}, ""
			}
			return value{num: p.DPort, kind: 'n'}, ""
		}
		return value{}, f.Protocol + " " + f.Field
	}
	if mt, ok := l["meta"]; ok {
		var k struct{ Key string }
		_ = json.Unmarshal(mt, &k)
		switch k.Key {
		case "iifname":
			return value{name: p.In, kind: 's'}, ""
		case "oifname":
			return value{name: p.Out, kind: 's'}, ""
		case "l4proto":
			return value{name: p.Proto, kind: 's'}, ""
		case "nfproto":
			fam := "ipv4"
			if p.Dst.Is6() {
				fam = "ipv6"
			}
			return value{name: fam, kind: 's'}, ""
		case "mark":
			return value{num: int(p.Mark), kind: 'n'}, ""
		}
		return value{}, "meta " + k.Key
	}
	if ct, ok := l["ct"]; ok {
		var k struct{ Key string }
		_ = json.Unmarshal(ct, &k)
		switch k.Key {
		case "state":
			return value{name: "new", kind: 's'}, "" // the probe's flow starts new
		case "status":
			return value{name: "", kind: 's'}, "" // not DNATed, nothing confirmed yet
		}
		return value{}, "ct " + k.Key
	}
	if and, ok := l["&"]; ok { // meta mark & mask
		var ops []json.RawMessage
		if json.Unmarshal(and, &ops) == nil && len(ops) == 2 {
			v, why := p.field(ops[0])
			var mask int
			if why == "" && v.kind == 'n' && json.Unmarshal(ops[1], &mask) == nil {
				return value{num: v.num & mask, kind: 'n'}, ""
			}
		}
	}
	for k := range l {
		return value{}, "a match on " + k
	}
	return value{}, "an empty match"
}

// contains says whether the right side (a value, prefix, range, set or
// @named set) holds v.
func (nf Nftables) contains(t *NftTable, raw json.RawMessage, v value) (bool, string) {
	if v.isNil {
		return false, ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.HasPrefix(s, "@") {
			elems, ok := t.Sets[strings.TrimPrefix(s, "@")]
			if !ok {
				return false, "set " + s
			}
			return anyOf(nf, t, elems, v)
		}
		return scalar(s, v)
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return v.kind == 'n' && v.num == n, ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return false, "a value " + string(raw)
	}
	if pr, ok := obj["prefix"]; ok {
		var x struct {
			Addr string
			Len  int
		}
		if json.Unmarshal(pr, &x) != nil || v.kind != 'a' {
			return false, "a prefix"
		}
		pfx, err := netip.ParsePrefix(x.Addr + "/" + strconv.Itoa(x.Len))
		if err != nil {
			return false, "prefix " + x.Addr
		}
		return pfx.Contains(v.addr), ""
	}
	if rg, ok := obj["range"]; ok {
		var ends []json.RawMessage
		if json.Unmarshal(rg, &ends) != nil || len(ends) != 2 {
			return false, "a range"
		}
		return inRange(ends, v)
	}
	if set, ok := obj["set"]; ok {
		var elems []json.RawMessage
		if json.Unmarshal(set, &elems) != nil {
			return false, "a set"
		}
		return anyOf(nf, t, elems, v)
	}
	for k := range obj {
		return false, k + " lookup"
	}
	return false, "an empty value"
}

func anyOf(nf Nftables, t *NftTable, elems []json.RawMessage, v value) (bool, string) {
	for _, e := range elems {
		// Elements of maps are [key, value] pairs; of interval sets, prefixes or ranges.
		var pair []json.RawMessage
		if json.Unmarshal(e, &pair) == nil && len(pair) == 2 {
			e = pair[0]
		}
		var wrapped struct{ Elem struct{ Val json.RawMessage } }
		if json.Unmarshal(e, &wrapped) == nil && wrapped.Elem.Val != nil {
			e = wrapped.Elem.Val
		}
		in, why := nf.contains(t, e, v)
		if why != "" {
			return false, why
		}
		if in {
			return true, ""
		}
	}
	return false, ""
}

func scalar(s string, v value) (bool, string) {
	switch v.kind {
	case 'a':
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false, "address " + s
		}
		return a == v.addr, ""
	case 's':
		if strings.HasSuffix(s, "*") { // iifname "veth*"
			return strings.HasPrefix(v.name, strings.TrimSuffix(s, "*")), ""
		}
		return s == v.name, ""
	case 'n':
		n, err := strconv.Atoi(s)
		if err != nil {
			return false, "number " + s
		}
		return n == v.num, ""
	}
	return false, "value " + s
}

func inRange(ends []json.RawMessage, v value) (bool, string) {
	var lo, hi int
	if v.kind == 'n' && json.Unmarshal(ends[0], &lo) == nil && json.Unmarshal(ends[1], &hi) == nil {
		return v.num >= lo && v.num <= hi, ""
	}
	var a, b string
	if v.kind == 'a' && json.Unmarshal(ends[0], &a) == nil && json.Unmarshal(ends[1], &b) == nil {
		la, err1 := netip.ParseAddr(a)
		hb, err2 := netip.ParseAddr(b)
		if err1 == nil && err2 == nil {
			return la.Compare(v.addr) <= 0 && v.addr.Compare(hb) <= 0, ""
		}
	}
	return false, "a range"
}

// lookupVmap finds the packet's element in a verdict map: the key (one
// field or a concatenation) read from the packet, the elements from the
// named or anonymous map. found is false when no element holds the key.
func (nf Nftables) lookupVmap(t *NftTable, raw json.RawMessage, p Packet) (verdict, target string, found bool, why string) {
	var vm struct {
		Key  json.RawMessage
		Data json.RawMessage
	}
	if json.Unmarshal(raw, &vm) != nil {
		return "", "", false, "unreadable"
	}
	var parts []json.RawMessage
	var cc struct{ Concat []json.RawMessage }
	if json.Unmarshal(vm.Key, &cc) == nil && cc.Concat != nil {
		parts = cc.Concat
	} else {
		parts = []json.RawMessage{vm.Key}
	}
	var have []value
	for _, part := range parts {
		v, why := p.field(part)
		if why != "" {
			return "", "", false, why
		}
		have = append(have, v)
	}
	var elems []json.RawMessage
	var name string
	var anon struct{ Set []json.RawMessage }
	switch {
	case json.Unmarshal(vm.Data, &name) == nil && strings.HasPrefix(name, "@"):
		var ok bool
		if elems, ok = t.Sets[strings.TrimPrefix(name, "@")]; !ok {
			return "", "", false, "map " + name + " not read"
		}
	case json.Unmarshal(vm.Data, &anon) == nil:
		elems = anon.Set
	default:
		return "", "", false, "its data"
	}
	for _, e := range elems {
		var pair []json.RawMessage
		if json.Unmarshal(e, &pair) != nil || len(pair) != 2 {
			return "", "", false, "an element " + string(e)
		}
		key := pair[0]
		var wrapped struct{ Elem struct{ Val json.RawMessage } }
		if json.Unmarshal(key, &wrapped) == nil && wrapped.Elem.Val != nil {
			key = wrapped.Elem.Val
		}
		keys := []json.RawMessage{key}
		var kc struct{ Concat []json.RawMessage }
		if json.Unmarshal(key, &kc) == nil && kc.Concat != nil {
			keys = kc.Concat
		}
		if len(keys) != len(have) {
			return "", "", false, "a key of another shape"
		}
		all := true
		for i := range keys {
			in, why := nf.contains(t, keys[i], have[i])
			if why != "" {
				return "", "", false, why
			}
			all = all && in
		}
		if !all {
			continue
		}
		var v map[string]json.RawMessage
		if json.Unmarshal(pair[1], &v) != nil {
			return "", "", false, "a verdict " + string(pair[1])
		}
		for k, arg := range v {
			var j struct{ Target string }
			_ = json.Unmarshal(arg, &j)
			return k, j.Target, true, ""
		}
	}
	return "", "", false, ""
}
