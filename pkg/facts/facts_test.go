package facts

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func readFile(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := readFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pkt(dst string) Packet {
	return Packet{Src: netip.MustParseAddr("10.244.0.5"), Dst: netip.MustParseAddr(dst), Proto: "icmp", In: "cni0", Out: "eth0"}
}

func TestNATVerdicts(t *testing.T) {
	tests := []struct {
		file      string
		dst       string
		want      observe.Tri
		wantRule  string
		uncertain bool
	}{
		// kube-proxy's KUBE-POSTROUTING returns unmarked packets; the node's own rule masquerades.
		{file: "kubeproxy-masq.nft.txt", dst: "198.19.0.1", want: observe.Yes, wantRule: "-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE"},
		// pod→pod stays un-NATed even with the rule present.
		{file: "kubeproxy-masq.nft.txt", dst: "10.244.1.7", want: observe.No},
		// The masquerade rule deleted: kube-proxy's own MASQUERADE must not be mistaken for it.
		{file: "kubeproxy-nomasq.nft.txt", dst: "198.19.0.1", want: observe.No},
		// A masquerade rule for another destination does not cover this one.
		{file: "kubeproxy-othermasq.nft.txt", dst: "198.19.0.1", want: observe.No, wantRule: "does not match this flow"},
		{file: "kubeproxy-othermasq.nft.txt", dst: "172.16.3.4", want: observe.Yes},
		// Calico matches by ipset: the evaluator says it cannot judge rather than guess.
		{file: "calico-ipset.nft.txt", dst: "198.19.0.1", want: observe.Unknown, uncertain: true},
	}
	for _, tt := range tests {
		t.Run(tt.file+"->"+tt.dst, func(t *testing.T) {
			sets, tools := Rulesets([]Dump{{Tool: "iptables-nft-save", Text: read(t, tt.file)}, {Tool: "iptables-legacy-save", Text: read(t, "empty.legacy.txt")}})
			if len(sets) != 1 {
				t.Fatalf("want the empty legacy dump dropped, got %d rulesets", len(sets))
			}
			v := NAT(IptablesDatapaths(sets, tools), pkt(tt.dst))
			if v.Result != tt.want {
				t.Fatalf("NAT = %+v, want %s", v, tt.want)
			}
			if tt.wantRule != "" && !strings.Contains(strings.Join(v.Rules, "\n"), tt.wantRule) {
				t.Errorf("rules %q do not mention %q", v.Rules, tt.wantRule)
			}
			if tt.uncertain != (len(v.Uncertain) > 0) {
				t.Errorf("uncertain = %q, want uncertain=%v", v.Uncertain, tt.uncertain)
			}
		})
	}
}

func TestForwardVerdicts(t *testing.T) {
	tests := []struct {
		file   string
		dst    string
		in     string
		want   observe.Tri
		action string
	}{
		{file: "kubeproxy-masq.nft.txt", dst: "198.19.0.1", in: "cni0", want: observe.Yes, action: "policy ACCEPT"},
		// Docker's FORWARD DROP lets docker0 through, not cni0: the seed's DNS trap.
		{file: "docker-forward-drop.nft.txt", dst: "198.19.0.1", in: "cni0", want: observe.No, action: "policy DROP"},
		{file: "docker-forward-drop.nft.txt", dst: "198.19.0.1", in: "docker0", want: observe.Yes, action: "ACCEPT"},
		{file: "forward-reject-rule.nft.txt", dst: "198.19.0.1", in: "cni0", want: observe.No, action: "REJECT"},
		{file: "forward-reject-rule.nft.txt", dst: "198.20.0.1", in: "cni0", want: observe.Yes},
	}
	for _, tt := range tests {
		t.Run(tt.file+"->"+tt.dst+"/"+tt.in, func(t *testing.T) {
			sets, tools := Rulesets([]Dump{{Text: read(t, tt.file)}})
			p := pkt(tt.dst)
			p.In = tt.in
			v := Forward(IptablesDatapaths(sets, tools), p)
			if v.Result != tt.want || (tt.action != "" && v.Action != tt.action) {
				t.Fatalf("Forward = %+v, want %s %q", v, tt.want, tt.action)
			}
			if byPolicy := strings.HasPrefix(tt.action, "policy "); tt.action != "" && v.Policy != byPolicy {
				t.Fatalf("Forward = %+v: Policy should be %v", v, byPolicy)
			}
		})
	}
}

func TestNoRulesIsUnknown(t *testing.T) {
	if v := NAT(nil, pkt("198.19.0.1")); v.Result != observe.Unknown {
		t.Fatalf("NAT without rules = %s, want unknown", v.Result)
	}
	if v := Forward(nil, pkt("198.19.0.1")); v.Result != observe.Unknown {
		t.Fatalf("Forward without rules = %s, want unknown", v.Result)
	}
}

func TestTokenizeQuotes(t *testing.T) {
	got := tokenize(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`)
	want := []string{"-A", "KUBE-POSTROUTING", "-m", "comment", "--comment", "kubernetes service traffic requiring SNAT", "-j", "MASQUERADE", "--random-fully"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tokenize = %q", got)
	}
}

func TestRouteGet(t *testing.T) {
	r := ParseRouteGet("ip route get 198.19.0.1", read(t, "routeget-specific.busybox.txt"), "")
	if r.Via != "198.18.0.100" || r.Dev != "vr0" || r.Src != "198.18.0.11" || r.Err != "" {
		t.Errorf("specific: %+v", r)
	}
	for _, tool := range []string{"busybox", "iproute2"} {
		r = ParseRouteGet("q", read(t, "routeget-unreach."+tool+".stdout"), read(t, "routeget-unreach."+tool+".stderr"))
		if r.Err != "Network is unreachable" {
			t.Errorf("%s unreachable: %+v", tool, r)
		}
	}
}

func TestRouteTableDefault(t *testing.T) {
	for _, f := range []string{"route-table.busybox.txt", "route-table.iproute2.txt"} {
		tbl := ParseRouteTable(read(t, f), false)
		if e := Lookup(tbl, netip.MustParseAddr("198.19.0.1")); e == nil || e.Prefix.String() != "198.19.0.0/24" {
			t.Errorf("%s: 198.19.0.1 → %+v", f, e)
		}
		if e := Lookup(tbl, netip.MustParseAddr("192.0.2.1")); e == nil || e.Prefix.Bits() != 0 || e.Via != "198.18.0.254" {
			t.Errorf("%s: 192.0.2.1 → %+v, want the default route", f, e)
		}
	}
}

// Lines as the lab cluster printed them (shared/e2e-cluster.md, 2026-11-25).
func TestConntrackWitness(t *testing.T) {
	text := "ipv4     2 icmp     1 29 src=10.244.0.2 dst=198.19.0.1 type=8 code=0 id=4 [UNREPLIED] src=198.19.0.1 dst=10.244.0.2 type=0 code=0 id=4 mark=0 zone=0 use=2\n" +
		"ipv4     2 icmp     1 29 src=10.244.0.2 dst=198.19.0.1 type=8 code=0 id=5 src=198.19.0.1 dst=198.18.0.11 type=0 code=0 id=5 mark=0 zone=0 use=2\n" +
		"ipv4     2 tcp      6 117 SYN_SENT src=10.244.0.2 dst=198.19.0.9 sport=40000 dport=80 [UNREPLIED] src=198.19.0.9 dst=10.244.0.2 sport=80 dport=40000 mark=0 zone=0 use=2\n"
	es := ParseConntrack(text, "10.244.0.2", "198.19.0.1")
	if len(es) != 2 {
		t.Fatalf("want 2 entries for the flow, got %d", len(es))
	}
	if !es[0].Unreplied || es[0].Natted() {
		t.Errorf("first entry: want unreplied and not NATed: %+v", es[0])
	}
	if es[1].Unreplied || !es[1].Natted() || es[1].ReplyDst != "198.18.0.11" {
		t.Errorf("second entry: want replied and NATed to the node: %+v", es[1])
	}
}

func TestDetectOverlay(t *testing.T) {
	for _, tt := range []struct {
		links    map[string]int
		name     string
		port     string
		overhead int
	}{
		{map[string]int{"eth0": 1500, "cni0": 1450, "flannel.1": 1450}, "flannel VXLAN", "VXLAN UDP 8472", 50},
		{map[string]int{"eth0": 1500, "vxlan.calico": 1450}, "Calico VXLAN", "VXLAN UDP 4789", 50},
		{map[string]int{"eth0": 1500, "tunl0": 1480}, "IP-in-IP", "IP protocol 4 (IP-in-IP)", 20},
		{map[string]int{"eth0": 1500, "cni0": 1500}, "", "", 0},
	} {
		o := DetectOverlay(tt.links)
		if tt.name == "" {
			if o != nil {
				t.Errorf("%v: overlay %+v on a routed network", tt.links, o)
			}
			continue
		}
		if o == nil || o.Name != tt.name || o.Port != tt.port || o.Overhead != tt.overhead {
			t.Errorf("%v: got %+v, want %s %s %d", tt.links, o, tt.name, tt.port, tt.overhead)
		}
	}
}

func TestBackendsOfASplitNode(t *testing.T) {
	sets, tools := Rulesets([]Dump{{Tool: "iptables-nft-save", Text: read(t, "kubeproxy-masq.nft.txt")},
		{Tool: "iptables-legacy-save", Text: read(t, "legacy-forward.legacy.txt")}})
	bs := Backends(sets, tools)
	if len(bs) != 2 || !bs[0].KubeProxy || bs[1].KubeProxy {
		t.Fatalf("backends %+v", bs)
	}
	if got := strings.Join(bs[1].Chains, ","); got != "filter/FORWARD" {
		t.Errorf("legacy chains %s", got)
	}
	if !strings.Contains(strings.Join(bs[0].Chains, ","), "nat/KUBE-POSTROUTING") {
		t.Errorf("nft chains %v", bs[0].Chains)
	}
}

func TestParseHairpin(t *testing.T) {
	off, ports := ParseHairpin("/sys/class/net/veth1a/brport/hairpin_mode:1\n/sys/class/net/veth2b/brport/hairpin_mode:0\n")
	if ports != 2 || len(off) != 1 || off[0] != "veth2b" {
		t.Fatalf("off %v of %d", off, ports)
	}
}

func TestParseSysctls(t *testing.T) {
	sc := ParseSysctls("/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/netfilter/nf_conntrack_count:27\n/proc/sys/net/netfilter/nf_conntrack_max:262144\n")
	if sc.IPForward != observe.Yes || sc.BridgeNF != observe.Unknown || sc.ConntrackCount != 27 || sc.ConntrackMax != 262144 || sc.SELinux != "" {
		t.Fatalf("%+v", sc)
	}
}

// ufw's layout (captured in a netns, capture.sh) drops pod traffic at
// FORWARD's policy; the fix is ufw's own, which survives its reloads, and
// it lets the traffic through when applied (the rule ufw writes for it).
func TestUfwForwardDrop(t *testing.T) {
	sets, tools := Rulesets([]Dump{{Text: read(t, "ufw-forward-drop.nft.txt")}})
	p := pkt("198.19.0.1")
	p.In = "cni0"
	v := Forward(IptablesDatapaths(sets, tools), p)
	if v.Result != observe.No || !v.Policy || v.Owner != "ufw" {
		t.Fatalf("Forward = %+v", v)
	}
	fix := FixerFor(v.Datapath).AllowForward(v, "10.244.1.0/24", false)
	if len(fix) == 0 || !strings.HasPrefix(fix[0], "ufw route allow from 10.244.1.0/24") {
		t.Fatalf("fix %q", fix)
	}
	// With the rule `ufw route allow from 10.244.1.0/24` adds (capture.sh).
	sets, tools = Rulesets([]Dump{{Text: read(t, "ufw-route-allowed.nft.txt")}})
	p.Src = netip.MustParseAddr("10.244.1.9")
	if v := Forward(IptablesDatapaths(sets, tools), p); v.Result != observe.Yes {
		t.Fatalf("after the fix: %+v", v)
	}
}

// A rule's text comes from the node: the printed delete is quoted so that a
// comment crafted to run something when pasted runs nothing.
func TestDeleteRuleIsQuoted(t *testing.T) {
	for in, want := range map[string]string{
		`-A INPUT -p udp -m udp --dport 8472 -m comment --comment "netcheck-e2e fault" -j DROP`: `iptables -D INPUT -p udp -m udp --dport 8472 -m comment --comment 'netcheck-e2e fault' -j DROP`,
		`-A FORWARD -m comment --comment "$(reboot)" -j DROP`:                                   `iptables -D FORWARD -m comment --comment '$(reboot)' -j DROP`,
		`-A FORWARD -m comment --comment "it's" -j DROP`:                                        `iptables -D FORWARD -m comment --comment 'it'\''s' -j DROP`,
		`-A FORWARD -s 10.244.0.0/16 -j REJECT`:                                                 `iptables -D FORWARD -s 10.244.0.0/16 -j REJECT`,
	} {
		if got := deleteRule("iptables", in); got != want {
			t.Errorf("deleteRule(%q)\n got %s\nwant %s", in, got, want)
		}
	}
}

// TestConntrackIPv6 reads an IPv6 flow as the kernel and conntrack -L print
// it (captured by testdata/capture-conntrack-v6.sh): the same entry, in the
// short form, whichever wrote it; and the grep the node probe runs finds
// the kernel's full form.
func TestConntrackIPv6(t *testing.T) {
	pod, ext := netip.MustParseAddr("fd00:10:244:1::5"), "fd00:198:19::1"
	for _, file := range []string{"conntrack-v6.proc.txt", "conntrack-v6.conntrack.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		es := ParseConntrack(string(b), pod.String(), ext)
		if len(es) != 1 {
			t.Fatalf("%s: %d entries, want 1: %+v", file, len(es), es)
		}
		e := es[0]
		if e.Proto != "icmpv6" || !e.Unreplied || e.Natted() || e.ReplySrc != ext || e.ReplyDst != pod.String() {
			t.Errorf("%s: %+v", file, e)
		}
		if file == "conntrack-v6.proc.txt" && !strings.Contains(string(b), "src="+ConntrackAddr(pod)+" ") {
			t.Errorf("the kernel's line lacks src=%s", ConntrackAddr(pod))
		}
	}
	if got := ConntrackAddr(netip.MustParseAddr("10.244.1.5")); got != "10.244.1.5" {
		t.Errorf("ConntrackAddr(IPv4) = %s", got)
	}
}
