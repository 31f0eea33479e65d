package facts

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// The node of nft-firewalld-like.*: iptables-nft accepts pod traffic and
// masquerades it, a native inet table drops forwarded pod traffic to
// 198.19.0.0/24 from cni0, and a native nat table masquerades the pods too.
func firewalldLikeNode(t *testing.T) []Datapath {
	t.Helper()
	sets, tools := Rulesets([]Dump{{Tool: "iptables-nft-save", Text: read(t, "nft-firewalld-like.iptables.txt")}})
	nf, err := ParseNftJSON(read(t, "nft-firewalld-like.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	return append(IptablesDatapaths(sets, tools), nf)
}

func TestNftablesTablesJudgedOnce(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "nft-firewalld-like.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range nf.Tables {
		names = append(names, tb.Family+" "+tb.Name)
	}
	if got := strings.Join(names, ","); got != "inet netcheck_fw,ip nat2" {
		t.Errorf("tables judged by nft: %s (iptables-nft's own are judged from iptables-nft-save)", got)
	}
	if got := strings.Join(nf.Skipped, ","); got != "ip filter,ip nat" {
		t.Errorf("skipped: %s", got)
	}
	all, _ := ParseNftJSON(read(t, "nft-firewalld-like.json"), false)
	if len(all.Tables) != 4 {
		t.Errorf("without iptables-nft dumps every table is nft's to judge: %d", len(all.Tables))
	}
}

func TestNftablesForward(t *testing.T) {
	dps := firewalldLikeNode(t)
	p := pkt("198.19.0.1")
	p.Src = netip.MustParseAddr("10.244.1.5")
	tests := []struct {
		name   string
		edit   func(*Packet)
		result observe.Tri
		action string
		rule   string
		handle int
	}{
		{"pod traffic to the external subnet: the inet table drops it", nil, observe.No, "drop",
			`table inet netcheck_fw chain filter_FORWARD_POLICIES handle 8: iifname "cni0" ip daddr @ext_nets counter drop comment "netcheck-e2e fault"`, 8},
		{"from another interface: the rule does not match", func(p *Packet) { p.In = "eth1" }, observe.Yes, "", "", 0},
		{"another subnet", func(p *Packet) { p.Dst = netip.MustParseAddr("198.20.0.1") }, observe.Yes, "", "", 0},
		{"tcp to a port of the anonymous set: rejected", func(p *Packet) {
			p.Dst, p.Proto, p.DPort = netip.MustParseAddr("203.0.113.9"), "tcp", 443
		}, observe.No, "reject", "", 10},
		{"tcp to another port", func(p *Packet) {
			p.Dst, p.Proto, p.DPort = netip.MustParseAddr("203.0.113.9"), "tcp", 22
		}, observe.Yes, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := p
			if tt.edit != nil {
				tt.edit(&q)
			}
			v := Forward(dps, q)
			if v.Result != tt.result {
				t.Fatalf("result %s, want %s: %+v", v.Result, tt.result, v)
			}
			if tt.result != observe.No {
				return
			}
			if v.Datapath != "nftables" || v.Action != tt.action || v.Rule == nil || v.Rule.Handle != tt.handle ||
				v.Rule.Table != "netcheck_fw" || v.Rule.Chain != "filter_FORWARD_POLICIES" {
				t.Fatalf("verdict %+v rule %+v", v, v.Rule)
			}
			if tt.rule != "" && (len(v.Rules) != 1 || v.Rules[0] != tt.rule) {
				t.Errorf("evidence %q, want %q", v.Rules, tt.rule)
			}
		})
	}
}

func TestNftablesPolicyDrop(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "nft-policy-drop.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	v := Forward([]Datapath{nf}, pkt("198.19.0.1"))
	if v.Result != observe.No || v.Action != "policy drop" || !v.Policy || v.Rule == nil || v.Rule.Handle != 0 || v.Rule.Chain != "pod_fwd" {
		t.Fatalf("verdict %+v", v)
	}
	fix := strings.Join(FixerFor(v.Datapath).AllowForward(v, "10.244.1.0/24", false), "\n")
	for _, want := range []string{"nft insert rule inet pol pod_fwd ip saddr 10.244.1.0/24 accept",
		"nft insert rule inet pol pod_fwd ip daddr 10.244.1.0/24 ct state established,related accept"} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix lacks %q:\n%s", want, fix)
		}
	}
}

func TestNftablesNAT(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "nft-firewalld-like.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	// Only the native table: iptables' MASQUERADE rule left out.
	out := NAT([]Datapath{nf}, pkt("198.19.0.1"))
	if out.Result != observe.Yes || out.Action != "masquerade" || out.Datapath != "nftables" ||
		out.Rules[0] != "table ip nat2 chain post handle 2: ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade" {
		t.Fatalf("pod → outside: %+v", out)
	}
	if in := NAT([]Datapath{nf}, pkt("10.244.2.7")); in.Result != observe.No || len(in.Rules) != 1 ||
		!strings.Contains(in.Rules[0], "(does not match this flow)") {
		t.Fatalf("pod → pod is not masqueraded: %+v", in)
	}
	// With iptables' rules gone, the nft table alone masquerades: no missing NAT.
	sets, tools := Rulesets([]Dump{{Tool: "iptables-nft-save", Text: read(t, "kubeproxy-nomasq.nft.txt")}})
	if v := NAT(append(IptablesDatapaths(sets, tools), nf), pkt("198.19.0.1")); v.Result != observe.Yes || v.Datapath != "nftables" {
		t.Fatalf("iptables without masquerade + nft masquerade: %+v", v)
	}
}

func TestNftablesFixes(t *testing.T) {
	v := Forward(firewalldLikeNode(t), Packet{Src: netip.MustParseAddr("10.244.1.5"), Dst: netip.MustParseAddr("198.19.0.1"), Proto: "icmp", In: "cni0", Out: "eth0"})
	fix := FixerFor(v.Datapath).AllowForward(v, "10.244.1.0/24", false)
	if fix[0] != "nft delete rule inet netcheck_fw filter_FORWARD_POLICIES handle 8   # remove the rule that drops pod traffic" ||
		fix[1] != "or allow pod traffic before it: nft insert rule inet netcheck_fw filter_FORWARD_POLICIES ip saddr 10.244.1.0/24 accept" {
		t.Fatalf("fix %q", fix)
	}
	v.Rule.Table = "firewalld"
	if fw := FixerFor(v.Datapath).AllowForward(v, "10.244.1.0/24", false); !strings.HasPrefix(fw[0], "firewall-cmd --permanent --zone=trusted --add-source=10.244.1.0/24") || fw[1] != "firewall-cmd --reload" {
		t.Fatalf("firewalld fix %q", fw)
	}
	m := FixerFor("nftables").Masquerade(Masquerade{Src: "10.244.1.0/24", Dst: "198.19.0.0/24", Out: "eth0"})
	if m[0] != `nft 'add table ip pod_masq; add chain ip pod_masq post { type nat hook postrouting priority srcnat; }; add rule ip pod_masq post ip saddr 10.244.1.0/24 ip daddr 198.19.0.0/24 oifname "eth0" masquerade'` {
		t.Fatalf("masquerade fix %q", m)
	}
}

// FuzzParseNftJSON: any input is read without a panic, and whatever it
// yields can be walked.
func FuzzParseNftJSON(f *testing.F) {
	for _, name := range []string{"nft-firewalld-like.json", "nft-policy-drop.json"} {
		b, err := readFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		nf, err := ParseNftJSON(s, true)
		if err != nil {
			return
		}
		p := pkt("198.19.0.1")
		_ = nf.Forward(p)
		_ = nf.NAT(p)
		_ = nf.Masquerading()
	})
}

// A verdict map is judged by lookup: the packet's key found in the map
// decides; a key not there leaves the rule without effect.
func TestNftablesVerdictMap(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "nft-vmap.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	if v := nf.Forward(pkt("198.19.0.1")); v.Result != observe.Yes || len(v.Uncertain) != 0 {
		t.Fatalf("not in the map: %+v", v)
	}
	v := nf.Forward(pkt("10.96.5.5"))
	if v.Result != observe.No || v.Action != "drop" || v.Rule == nil || v.Rule.Chain != "pod_fwd" || !strings.Contains(v.Rules[0], "vmap @no-endpoints") {
		t.Fatalf("in the map as drop: %+v", v)
	}
}

// kube-proxy's own nftables table (captured in nftables mode) drops or
// rejects nothing a pod sends outside, and rejects its Services without
// endpoints through no-endpoint-services.
func TestNftablesKubeProxyTableForward(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "kubeproxy-nftables.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	if v := nf.Forward(pkt("198.19.0.1")); v.Result != observe.Yes || len(v.Uncertain) != 0 {
		t.Fatalf("outside flow: %+v", v)
	}
	p := pkt("10.104.48.227") // nc-shop/typo, no endpoints
	p.Proto, p.DPort = "tcp", 80
	if v := nf.Forward(p); v.Result != observe.No || v.Action != "reject" {
		t.Fatalf("a Service without endpoints: %+v", v)
	}
	if v := nf.NAT(pkt("198.19.0.1")); v.Result != observe.No || len(v.Uncertain) != 0 {
		t.Fatalf("kube-proxy masquerades only marked flows: %+v", v)
	}
}

func TestNftablesDocumentsOneAfterTheOther(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "nft-tables-concat.json"), true)
	if err != nil || len(nf.Tables) != 2 {
		t.Fatalf("%v: %d tables", err, len(nf.Tables))
	}
	if v := nf.Forward(Packet{Src: netip.MustParseAddr("10.244.1.5"), Dst: netip.MustParseAddr("198.19.0.1"), Proto: "icmp", In: "cni0"}); v.Result != observe.No {
		t.Fatalf("%+v", v)
	}
	if empty, err := ParseNftJSON("", true); err != nil || !empty.Empty() {
		t.Fatalf("no native table: %v %+v", err, empty)
	}
}

// A drop rule behind a match the walker cannot judge is reported, never
// passed over in silence.
func TestNftablesUnjudgedDropIsUncertain(t *testing.T) {
	nf, err := ParseNftJSON(read(t, "nft-concat-drop.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	p := pkt("198.19.0.1")
	p.Proto, p.DPort = "tcp", 80
	v := nf.Forward(p)
	if v.Result != observe.Unknown || len(v.Uncertain) != 1 || !strings.Contains(v.Uncertain[0], "handle 3: ip daddr . tcp dport { 198.19.0.1 . 80 } drop") {
		t.Fatalf("%+v", v)
	}
}
