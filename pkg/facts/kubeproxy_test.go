package facts

import (
	"net/netip"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestKubeProxyRules(t *testing.T) {
	// Captured on a lab node (kube-proxy iptables mode): shop/web has three
	// endpoints, shop/typo has none.
	rs := ParseIptablesSave(read(t, "kubeproxy-service.txt"))
	web := VIP{Addr: netip.MustParseAddr("10.98.230.191"), Proto: "tcp", Port: 80}
	typo := VIP{Addr: netip.MustParseAddr("10.111.88.75"), Proto: "tcp", Port: 80}
	gone := VIP{Addr: netip.MustParseAddr("10.98.230.192"), Proto: "tcp", Port: 80}
	wrongPort := VIP{Addr: web.Addr, Proto: "tcp", Port: 8080}
	nodePort := VIP{Proto: "tcp", Port: 30766}
	// kube-proxy in nftables mode on a lab node (NETCHECK_E2E_PROXY_MODE=nftables;
	// e2e/cluster/exec-node.sh nc-node1 nft -j list table ip kube-proxy):
	// nc-shop/web with three endpoints and NodePort 32199, nc-shop/typo with
	// none (in no-endpoint-services), nc-shop/edge's external IP.
	nft, err := ParseNftJSON(read(t, "kubeproxy-nftables.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	nft137, err := ParseNftJSON(read(t, "nft-kube-proxy-v1.37.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	nftWeb := VIP{Addr: netip.MustParseAddr("10.111.218.170"), Proto: "tcp", Port: 80}
	nftTypo := VIP{Addr: netip.MustParseAddr("10.104.48.227"), Proto: "tcp", Port: 80}
	nftEdge := VIP{Addr: netip.MustParseAddr("198.18.0.200"), Proto: "tcp", Port: 80}
	nftNodePort := VIP{Proto: "tcp", Port: 32199}
	tests := []struct {
		name       string
		in         ProxyInput
		vip        VIP
		mode       string
		programmed observe.Tri
		endpoints  int
		rejects    bool
	}{
		{"iptables, three endpoints", ProxyInput{Sets: []Ruleset{rs}}, web, "iptables", observe.Yes, 3, false},
		{"iptables, no endpoints: REJECT", ProxyInput{Sets: []Ruleset{rs}}, typo, "iptables", observe.Yes, 0, true},
		{"iptables, unknown VIP", ProxyInput{Sets: []Ruleset{rs}}, gone, "iptables", observe.No, -1, false},
		{"iptables, other port", ProxyInput{Sets: []Ruleset{rs}}, wrongPort, "iptables", observe.No, -1, false},
		{"iptables, nodeport", ProxyInput{Sets: []Ruleset{rs}}, nodePort, "iptables", observe.Yes, 3, false},
		{"rules flushed: mode none", ProxyInput{Sets: []Ruleset{ParseIptablesSave(read(t, "kubeproxy-masq.nft.txt"))}}, web, "none", observe.No, -1, false},
		{"rules unread", ProxyInput{}, web, "none", observe.Unknown, -1, false},
		{"replaced by cilium", ProxyInput{Sets: []Ruleset{{}}, Processes: []string{"cilium-agent"}, ProcessesRead: true}, web, "none", observe.Unknown, -1, false},
		{"ipvs bound", ProxyInput{Links: map[string]int{"kube-ipvs0": 1500}, IPVSAddrs: "5: kube-ipvs0    inet 10.98.230.191/32 scope global kube-ipvs0"}, web, "ipvs", observe.Yes, -1, false},
		{"ipvs missing", ProxyInput{Links: map[string]int{"kube-ipvs0": 1500}, IPVSAddrs: "5: kube-ipvs0    inet 10.96.0.1/32 scope global kube-ipvs0"}, web, "ipvs", observe.No, -1, false},
		{"nftables, three endpoints", ProxyInput{Nft: nft}, nftWeb, "nftables", observe.Yes, 3, false},
		{"nftables nodeport", ProxyInput{Nft: nft}, nftNodePort, "nftables", observe.Yes, 3, false},
		{"nftables external IP", ProxyInput{Nft: nft}, nftEdge, "nftables", observe.Yes, 3, false},
		{"nftables, no endpoints: reject", ProxyInput{Nft: nft}, nftTypo, "nftables", observe.Yes, 0, true},
		// kube-proxy v1.37 (the lab's, captured): the service chain DNATs itself.
		{"nftables v1.37, three endpoints (numgen map)", ProxyInput{Nft: nft137}, VIP{Addr: netip.MustParseAddr("10.101.169.176"), Proto: "tcp", Port: 80}, "nftables", observe.Yes, 3, false},
		{"nftables v1.37, one endpoint (dnat to)", ProxyInput{Nft: nft137}, VIP{Addr: netip.MustParseAddr("10.110.172.184"), Proto: "tcp", Port: 80}, "nftables", observe.Yes, 1, false},
		{"nftables v1.37 nodeport", ProxyInput{Nft: nft137}, VIP{Proto: "tcp", Port: 30492}, "nftables", observe.Yes, 3, false},
		{"nftables v1.37, no endpoints: reject", ProxyInput{Nft: nft137}, VIP{Addr: netip.MustParseAddr("10.106.37.216"), Proto: "tcp", Port: 80}, "nftables", observe.Yes, 0, true},
		{"nftables missing", ProxyInput{Nft: nft}, gone, "nftables", observe.No, -1, false},
		{"nftables, other port", ProxyInput{Nft: nft}, VIP{Addr: nftWeb.Addr, Proto: "tcp", Port: 8080}, "nftables", observe.No, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp := KubeProxy(tc.in, []VIP{tc.vip})
			if kp.Mode != tc.mode {
				t.Fatalf("mode %q, want %q", kp.Mode, tc.mode)
			}
			sr := kp.Services[0]
			if sr.Programmed != tc.programmed || sr.Endpoints != tc.endpoints || sr.Rejects != tc.rejects {
				t.Fatalf("got programmed=%s endpoints=%d rejects=%v, want %s %d %v (rules %q)", sr.Programmed, sr.Endpoints, sr.Rejects, tc.programmed, tc.endpoints, tc.rejects, sr.Rules)
			}
			if sr.VIP != tc.vip.Key() {
				t.Fatalf("vip key %q", sr.VIP)
			}
			if sr.Programmed == observe.Yes && len(sr.Rules) == 0 {
				t.Fatal("programmed without a rule quoted as evidence")
			}
		})
	}
}
