package facts

import (
	"fmt"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// nftablesFixer writes fixes with nft, or with the tool that owns the
// table (firewalld keeps "inet firewalld" and rewrites it on reload).
type nftablesFixer struct{}

func addrKeyword(cidr string) string {
	if strings.Contains(cidr, ":") {
		return "ip6"
	}
	return "ip"
}

func (nftablesFixer) Masquerade(m Masquerade) []string {
	fam := "ip"
	if m.V6 {
		fam = "ip6"
	}
	dst := fam + " daddr " + m.Dst
	if m.NotDst {
		dst = fam + " daddr != " + m.Dst
	}
	out := m.Out
	if !shellSafe.MatchString(out) {
		out = "IFACE" // a name that would need quoting inside the quoted nft script: the user fills it in
	}
	return []string{fmt.Sprintf("nft 'add table %[1]s pod_masq; add chain %[1]s pod_masq post { type nat hook postrouting priority srcnat; }; add rule %[1]s pod_masq post %[1]s saddr %[2]s %[3]s oifname \"%[4]s\" masquerade'",
		fam, m.Src, dst, out)}
}

// AllowInbound implements Fixer.
func (nftablesFixer) AllowInbound(v observe.Verdict, proto string, port int, peers string) []string {
	r := v.Rule
	if r == nil {
		return []string{fmt.Sprintf("nft list ruleset   # find the input rule that drops %s/%d", proto, port)}
	}
	if r.Family == "inet" && r.Table == "firewalld" {
		return []string{fmt.Sprintf("firewall-cmd --permanent --add-port=%d/%s   # firewalld owns table inet firewalld", port, proto), "firewall-cmd --reload"}
	}
	where := fmt.Sprintf("%s %s %s", r.Family, r.Table, r.Chain)
	from := peers
	if strings.Contains(peers, ",") {
		from = "{ " + strings.ReplaceAll(peers, ",", ", ") + " }"
	}
	accept := fmt.Sprintf("nft insert rule %s %s saddr %s %s dport %d accept", where, addrKeyword(peers), from, proto, port)
	if r.Handle > 0 {
		return []string{fmt.Sprintf("nft delete rule %s handle %d   # remove the rule that drops it", where, r.Handle), "or accept it before that rule: " + accept}
	}
	return []string{accept}
}

func (nftablesFixer) AllowForward(v observe.Verdict, podCIDR string, both bool) []string {
	r := v.Rule
	if r == nil {
		return []string{fmt.Sprintf("nft list ruleset   # find the forward rule that drops %s", podCIDR)}
	}
	kw := addrKeyword(podCIDR)
	if r.Family == "inet" && r.Table == "firewalld" {
		return []string{
			fmt.Sprintf("firewall-cmd --permanent --zone=trusted --add-source=%s   # firewalld owns table inet firewalld: let the pod network through it", podCIDR),
			"firewall-cmd --reload",
			"or keep the zones and allow forwarding in the uplink's zone: firewall-cmd --permanent --zone=<zone> --add-forward && firewall-cmd --reload",
		}
	}
	where := fmt.Sprintf("%s %s %s", r.Family, r.Table, r.Chain)
	back := fmt.Sprintf("nft insert rule %s %s daddr %s ct state established,related accept", where, kw, podCIDR)
	if both {
		back = fmt.Sprintf("nft insert rule %s %s daddr %s accept", where, kw, podCIDR)
	}
	var fix []string
	if r.Handle > 0 {
		fix = append(fix,
			fmt.Sprintf("nft delete rule %s handle %d   # remove the rule that drops pod traffic", where, r.Handle),
			fmt.Sprintf("or allow pod traffic before it: nft insert rule %s %s saddr %s accept", where, kw, podCIDR))
		if both {
			fix = append(fix, back)
		}
	} else {
		fix = append(fix, fmt.Sprintf("nft insert rule %s %s saddr %s accept", where, kw, podCIDR), back,
			fmt.Sprintf("or, if nothing relies on it: nft 'chain %s { policy accept; }'", where))
	}
	return append(fix, "persist: write the same change where table "+r.Family+" "+r.Table+" is defined (/etc/nftables.conf, or the tool that owns it)")
}
