package probe

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

func ft(key, addr string) FactTarget {
	return FactTarget{Key: key, Addr: netip.MustParseAddr(addr), Proto: "icmp"}
}

func TestFactsFromLabNode(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node1.out")
	if err != nil {
		t.Fatal(err)
	}
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1"), ft("198.20.0.1", "198.20.0.1")}
	raw := ParseFacts(string(out), FactsQuery{PodIP: "10.244.1.25", Targets: targets})
	nf := Assemble(raw, "10.244.1.25", []string{"10.244.1.0/24"}, targets, nil)
	if nf.IPForward != observe.Yes || nf.BridgeNF != observe.Yes || nf.ForwardPolicy != "ACCEPT" || !nf.RulesRead || nf.PodDev != "cni0" {
		t.Fatalf("node facts: %+v", nf)
	}
	ext, other := nf.Targets[0], nf.Targets[1]
	if ext.NodeRoute.Via != "198.18.0.100" || ext.NodeRoute.Default || ext.NodeRoute.Match != "198.19.0.0/24" {
		t.Errorf("route to the external subnet: %+v", ext.NodeRoute)
	}
	if ext.PodRoute == nil || ext.PodRoute.Dev != "eth0" || !strings.Contains(ext.PodRoute.Query, "from 10.244.1.25 iif cni0") {
		t.Errorf("pod route: %+v", ext.PodRoute)
	}
	if ext.NAT.Result != observe.Yes || ext.NAT.Action != "MASQUERADE" {
		t.Errorf("the lab's masquerade rule covers pod→198.19.0.1: %+v", ext.NAT)
	}
	if ext.Forward.Result != observe.Yes {
		t.Errorf("forward: %+v", ext.Forward)
	}
	if !other.NodeRoute.Default || other.NodeRoute.Via != "198.18.0.254" {
		t.Errorf("198.20.0.1 goes by the default route: %+v", other.NodeRoute)
	}
	// The legacy backend is present but empty on the lab nodes: only nft counts.
	if len(nf.Tools) == 0 || !strings.Contains(nf.Tools[0], "iptables-nft-save") || strings.Contains(strings.Join(nf.Tools, ","), "legacy") {
		t.Errorf("tools: %v", nf.Tools)
	}
}

func TestFactsRouteDeleted(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node1-noroute.out")
	if err != nil {
		t.Fatal(err)
	}
	targets := []FactTarget{ft("198.19.0.0/24", "198.19.0.1")}
	nf := Assemble(ParseFacts(string(out), FactsQuery{PodIP: "10.244.1.25", Targets: targets}), "10.244.1.25", nil, targets, nil)
	r := nf.Targets[0].NodeRoute
	if !r.Default || r.Via != "198.18.0.254" {
		t.Fatalf("with the route deleted the default gateway decides: %+v", r)
	}
}

func TestFactsArgvKeepsTargetsOutOfTheScript(t *testing.T) {
	argv := FactsArgv(FactsQuery{PodIP: "10.244.1.25", PodIP6: "fd00:10:244:1::19", Targets: []FactTarget{ft("k", "198.19.0.1")}})
	if argv[0] != "sh" || argv[2] != factsScript || argv[4] != "all" || argv[5] != "10.244.1.25" || argv[6] != "fd00:10:244:1::19" || argv[7] != "198.19.0.1" || argv[8] != "--" || argv[9] != "+a198.19.0.1" {
		t.Fatalf("argv = %q", argv)
	}
	if strings.Contains(argv[2], "198.19") {
		t.Fatal("a target address leaked into the script text")
	}
}

func TestFactsWithoutHostTools(t *testing.T) {
	out := "@@sysctl\n/proc/sys/net/ipv4/ip_forward:1\n@@rc 0\n@@dump iptables-nft-save\nnsenter: can't execute 'iptables-nft-save': No such file or directory\n@@rc 127\n"
	raw := ParseFacts(out, FactsQuery{PodIP: "", Targets: nil})
	if len(raw.Dumps) != 0 || len(raw.Notes) == 0 || !strings.Contains(raw.Notes[0], "NAT and FORWARD verdicts are unknown") {
		t.Fatalf("raw: %+v", raw)
	}
}

func TestFactsKubeProxy(t *testing.T) {
	// The fact script run on a lab node with the node's own tools
	// (e2e/cluster/exec-node.sh nc-node1 sh -c "$script" ...): kube-proxy
	// running in iptables mode, shop/web (10.98.230.191:80) with 3 endpoints.
	out, err := os.ReadFile("testdata/facts-script.node1-services.out")
	if err != nil {
		t.Fatal(err)
	}
	vips := []facts.VIP{{Addr: netip.MustParseAddr("10.98.230.191"), Proto: "tcp", Port: 80}, {Addr: netip.MustParseAddr("10.98.230.191"), Proto: "tcp", Port: 81}}
	raw := ParseFacts(string(out), FactsQuery{PodIP: "10.244.1.2", Targets: nil})
	if !raw.ProcsRead || len(raw.Procs) != 1 || raw.Procs[0] != "kube-proxy" {
		t.Fatalf("procs %v (read %v)", raw.Procs, raw.ProcsRead)
	}
	kp := Assemble(raw, "10.244.1.2", nil, nil, vips).KubeProxy
	if kp == nil || kp.Mode != "iptables" || kp.Services[0].Programmed != observe.Yes || kp.Services[0].Endpoints != 3 || kp.Services[1].Programmed != observe.No {
		t.Fatalf("kube-proxy facts: %+v", kp)
	}
	if Assemble(raw, "10.244.1.2", nil, nil, nil).KubeProxy != nil {
		t.Fatal("no VIPs asked: no kube-proxy facts")
	}
}

// A lab node with a native nftables table dropping forwarded pod traffic
// (firewalld-like): the lab facts with the ruleset section nft printed.
func TestFactsNativeNftables(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node1.out")
	if err != nil {
		t.Fatal(err)
	}
	ruleset, err := os.ReadFile("../facts/testdata/nft-firewalld-like.json")
	if err != nil {
		t.Fatal(err)
	}
	script := string(out) + "@@ruleset\n" + string(ruleset) + "\n@@rc 0\n" // nft -j list ruleset: one document
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1")}
	nf := Assemble(ParseFacts(script, FactsQuery{PodIP: "10.244.1.25", Targets: targets}), "10.244.1.25", []string{"10.244.1.0/24"}, targets, nil)
	ext := nf.Targets[0]
	if ext.Forward.Result != observe.No || ext.Forward.Datapath != "nftables" || ext.Forward.Rule == nil || ext.Forward.Rule.Handle != 8 {
		t.Fatalf("forward: %+v", ext.Forward)
	}
	if ext.NAT.Result != observe.Yes || ext.NAT.Datapath != "iptables" {
		t.Errorf("the lab's iptables masquerade comes first: %+v", ext.NAT)
	}
	if !strings.Contains(strings.Join(nf.Tools, ","), "nft -j list table") {
		t.Errorf("tools: %v", nf.Tools)
	}
	// Without nft on the host: a note, no verdict from nftables.
	script = string(out) + "@@ruleset\nsh: nft: not found\n@@rc 127\n"
	nf = Assemble(ParseFacts(script, FactsQuery{PodIP: "10.244.1.25", Targets: targets}), "10.244.1.25", []string{"10.244.1.0/24"}, targets, nil)
	if nf.Targets[0].Forward.Result != observe.Yes || !strings.Contains(strings.Join(nf.Notes, "\n"), "native nftables tables not read") {
		t.Errorf("without nft: %+v %v", nf.Targets[0].Forward, nf.Notes)
	}
}

// The fact script on a lab node whose own mount namespace has neither
// iptables nor nft (fault.sh nc-node2 host-tools-hidden): the rules come
// from a CNI agent container's tools, and every tool says whose it was.
func TestFactsToolsFromAgentContainer(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node2-agent-tools.out")
	if err != nil {
		t.Fatal(err)
	}
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1")}
	raw := ParseFacts(string(out), FactsQuery{PodIP: "10.244.2.52", Targets: targets})
	nf := Assemble(raw, "10.244.2.52", []string{"10.244.2.0/24"}, targets, nil)
	tools := strings.Join(nf.Tools, "; ")
	for _, want := range []string{"iptables-nft-save (calico-node's mount namespace, pid 26892, via nsenter)", "nft -j list table (calico-node's mount namespace, pid 26892, via nsenter)"} {
		if !strings.Contains(tools, want) {
			t.Errorf("tools %q lack %q", tools, want)
		}
	}
	if !nf.RulesRead || nf.Targets[0].Forward.Result != observe.Yes || nf.Targets[0].NAT.Result != observe.Yes {
		t.Errorf("the agent's tools read the rules: %+v", nf.Targets[0])
	}
}

func TestToolsVia(t *testing.T) {
	for _, tc := range []struct{ arg, body, want string }{
		{"xtables 1", "host\n", "host"},
		{"nft 4242", "kube-proxy\n", "kube-proxy's mount namespace, pid 4242"},
		{"nft 1", "none\n", "host"},
		{"xtables x", "calico-node", "host"}, // not a pid: never trusted as one
	} {
		if got := toolsVia(tc.arg, tc.body); got != tc.want {
			t.Errorf("toolsVia(%q, %q) = %q, want %q", tc.arg, tc.body, got, tc.want)
		}
	}
}

// The fact script on the flannel profile's nc-node2 with a host firewall
// rule dropping UDP 8472 (fault.sh nc-node2 vxlan-drop): the VXLAN device,
// its FDB and neighbours, flannel's lease, flanneld running, and the other
// nodes' encapsulated packets refused at the input hook.
func TestFactsFlannelOverlay(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.flannel-node2-vxlan-drop.out")
	if err != nil {
		t.Fatal(err)
	}
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1")}
	raw := ParseFacts(string(out), FactsQuery{PodIP: "10.42.2.15", Targets: targets})
	nf := AssembleFlows(raw, Flows{PodIP: "10.42.2.15", PodCIDRs: []string{"10.42.2.0/24"}, Targets: targets,
		Self: netip.MustParseAddr("198.18.0.12"), Peers: []netip.Addr{netip.MustParseAddr("198.18.0.13"), netip.MustParseAddr("198.18.0.11")}})
	o := nf.Overlay
	if o == nil || o.Name != "flannel VXLAN" || o.VNI != 1 || o.Local != "198.18.0.12" || o.Dev != "eth0" || o.DstPort != 8472 || o.MTU != 1450 {
		t.Fatalf("overlay %+v", o)
	}
	if o.FDB["1a:da:0f:d3:d7:94"] != "198.18.0.11" || o.FDB["b2:43:43:d5:8f:18"] != "198.18.0.13" || o.Neigh["10.42.1.0"] != "1a:da:0f:d3:d7:94" {
		t.Errorf("fdb %v neigh %v", o.FDB, o.Neigh)
	}
	if !o.LeaseRead || o.Lease["FLANNEL_SUBNET"] != "10.42.2.1/24" || o.Lease["FLANNEL_IPMASQ"] != "true" {
		t.Errorf("lease %v", o.Lease)
	}
	if !o.AgentsRead || len(o.Agents) != 1 || o.Agents[0] != "flanneld" {
		t.Errorf("agents %v", o.Agents)
	}
	if len(o.Inbound) != 2 {
		t.Fatalf("inbound %+v", o.Inbound)
	}
	for _, in := range o.Inbound {
		v := in.Verdict
		if v.Result != observe.No || v.Action != "DROP" || len(v.Rules) != 1 || !strings.Contains(v.Rules[0], "--dport 8472") {
			t.Errorf("from %s: %+v", in.From, v)
		}
	}
}

type truncatingExec struct{ out string }

func (e truncatingExec) Exec(context.Context, string, string, string, []string) podexec.Result {
	return podexec.Result{Stdout: e.out, Truncated: true}
}

// Facts whose output was cut are not judged: a half ruleset would give
// wrong verdicts.
func TestFactsTruncatedAreNotJudged(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node1.out")
	if err != nil {
		t.Fatal(err)
	}
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1")}
	raw := Gatherer{Exec: truncatingExec{string(out)}}.ReadFacts(context.Background(), FactsQuery{PodIP: "10.244.1.25", Targets: targets})
	nf := Assemble(raw, "10.244.1.25", []string{"10.244.1.0/24"}, targets, nil)
	if nf.RulesRead || nf.Targets[0].Forward.Result == observe.Yes || !strings.Contains(strings.Join(nf.Notes, "\n"), "was cut: nothing of it is judged") {
		t.Fatalf("rules read %v, forward %+v, notes %q", nf.RulesRead, nf.Targets[0].Forward, nf.Notes)
	}
}

// The trimmed output of the lab (kube-proxy's own Services left out on
// the node) reads as a healthy node, and says what was left out.
func TestFactsFilteredOnTheLabNode(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node1-filtered.out")
	if err != nil {
		t.Fatal(err)
	}
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1")}
	nf := Assemble(ParseFacts(string(out), FactsQuery{PodIP: "10.244.1.98", Targets: targets}), "10.244.1.98", []string{"10.244.1.0/24"}, targets, nil)
	ext := nf.Targets[0]
	if !nf.RulesRead || ext.NAT.Result != observe.Yes || ext.Forward.Result != observe.Yes || ext.PodRoute == nil || nf.PodDev != "cni0" {
		t.Fatalf("facts: %+v", nf)
	}
	if tools := strings.Join(nf.Tools, "; "); !strings.Contains(tools, "iptables-nft-save (host, via nsenter; left out 69 rules and 25 chains of Services not asked about)") {
		t.Errorf("tools: %s", tools)
	}
}

// kube-proxy in nftables mode writes an ip and an ip6 table: each is
// filtered with its own account, and the dump's tools line adds them up
// (the ip6 table's small account used to hide the ip table's).
func TestFactsNftAccountsAddUp(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.nft-node1-bulk.out")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "# netcheck: left out "); n != 2 {
		t.Fatalf("the capture has %d accounts, want the ip and the ip6 table's", n)
	}
	raw := ParseFacts(string(out), FactsQuery{PodIP: "", Targets: nil})
	tools := ""
	for _, d := range raw.Dumps {
		tools += d.Tool + "\n"
	}
	tools += raw.NftLeftOut
	if !strings.Contains(tools, "left out 524 rules and 264 chains of Services not asked about") {
		t.Errorf("accounts not added up:\n%s", tools)
	}
	web := facts.VIP{Addr: netip.MustParseAddr("10.106.154.244"), Proto: "tcp", Port: 80}
	nf := Assemble(raw, "", nil, nil, []facts.VIP{web})
	if nf.KubeProxy == nil || len(nf.KubeProxy.Services) != 1 || nf.KubeProxy.Services[0].Programmed != observe.Yes || nf.KubeProxy.Services[0].Endpoints != 3 {
		t.Fatalf("web among 60 others, filtered: %+v", nf.KubeProxy)
	}
}

func TestLeftOutAddsUp(t *testing.T) {
	for in, want := range map[string]string{
		"": "",
		"x\n# netcheck: left out 1 rule and 1 chain of Services not asked about\n":                                                                          "; left out 1 rule and 1 chain of Services not asked about",
		"# netcheck: left out 12 rules and 4 chains of Services not asked about\n{}\n# netcheck: left out 2 rules and 2 chains of Services not asked about": "; left out 14 rules and 6 chains of Services not asked about",
	} {
		if got := leftOut(in); got != want {
			t.Errorf("leftOut(%q) = %q, want %q", in, got, want)
		}
	}
}

// A dual-stack lab node: each target's flow is walked from the pod's
// address of its family, through that family's rules; the IPv6 faults
// (ip6tables FORWARD DROP, no ip6 masquerade) touch only the IPv6 flows.
func TestFactsDualStack(t *testing.T) {
	targets := []FactTarget{ft("198.19.0.1", "198.19.0.1"), ft("fd00:198:19::1", "fd00:198:19::1"), ft("2001:db8::1", "2001:db8::1")}
	q := FactsQuery{PodIP: "10.244.1.16", PodIP6: "fd00:10:244:1::10", Targets: targets}
	read := func(file string) observe.NodeFacts {
		out, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		return AssembleFlows(ParseFacts(string(out), q), Flows{PodIP: q.PodIP, PodIP6: q.PodIP6,
			PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, Targets: targets})
	}
	nf := read("facts-script.dual-node1.out")
	if nf.IPForward != observe.Yes || nf.IP6Forward != observe.Yes {
		t.Fatalf("forwarding: %s / %s", nf.IPForward, nf.IP6Forward)
	}
	v4, v6, doc := nf.Targets[0], nf.Targets[1], nf.Targets[2]
	if v6.Addr != "fd00:198:19::1" || v6.PodRoute == nil || !strings.Contains(v6.PodRoute.Query, "from fd00:10:244:1::10 iif cni0") ||
		v6.PodRoute.Via != "fd00:198:18::100" || v6.NodeRoute.Match != "fd00:198:19::/64" {
		t.Errorf("the IPv6 flow's routes: %+v / %+v", v6.NodeRoute, v6.PodRoute)
	}
	if !strings.Contains(v4.PodRoute.Query, "from 10.244.1.16 ") {
		t.Errorf("the IPv4 flow's pod route: %+v", v4.PodRoute)
	}
	for _, tf := range []observe.TargetFacts{v4, v6, doc} {
		if tf.NAT.Result != observe.Yes || tf.Forward.Result != observe.Yes {
			t.Errorf("%s healthy: NAT %+v FORWARD %+v", tf.Target, tf.NAT, tf.Forward)
		}
	}
	if !strings.Contains(strings.Join(v6.NAT.Rules, "\n"), "-s fd00:10:244::/56 ! -d fd00:10:244::/56 -j MASQUERADE") {
		t.Errorf("the IPv6 flow is masqueraded by the ip6tables rule: %+v", v6.NAT)
	}

	nf = read("facts-script.dual-node1-v6faults.out")
	v4, v6 = nf.Targets[0], nf.Targets[1]
	if v4.NAT.Result != observe.Yes || v4.Forward.Result != observe.Yes {
		t.Errorf("the IPv4 flow is untouched by the IPv6 faults: NAT %+v FORWARD %+v", v4.NAT, v4.Forward)
	}
	if v6.Forward.Result != observe.No || v6.Forward.Action != "policy DROP" {
		t.Errorf("ip6tables FORWARD DROP: %+v", v6.Forward)
	}
	if v6.NAT.Result != observe.No {
		t.Errorf("no ip6 masquerade: %+v", v6.NAT)
	}
}

// The fact script on nc-node3 with NodeLocal DNSCache's address on its
// nodelocaldns interface and a filter INPUT rule dropping the node's pods'
// queries to it: the pods' flow to the address, walked through the input
// hook, is dropped by that rule; another pod CIDR's is not.
func TestFactsNodeLocalInput(t *testing.T) {
	out, err := os.ReadFile("testdata/facts-script.node3-nodelocal-input-drop.out")
	if err != nil {
		t.Fatal(err)
	}
	cache := FactTarget{Key: "nodelocal-dns", Addr: netip.MustParseAddr("169.254.20.10"), Proto: "udp", Port: 53}
	for _, tc := range []struct {
		podIP string
		want  observe.Tri
	}{{"10.244.3.50", observe.No}, {"10.244.9.50", observe.Yes}} {
		q := FactsQuery{PodIP: tc.podIP}
		nf := AssembleFlows(ParseFacts(string(out), q), Flows{PodIP: tc.podIP, PodCIDRs: []string{"10.244.3.0/24"}, Local: []FactTarget{cache}})
		if len(nf.Local) != 1 {
			t.Fatalf("local %+v", nf.Local)
		}
		v := nf.Local[0].Input
		if nf.Local[0].Addr != "169.254.20.10" || v.Result != tc.want {
			t.Errorf("from %s: %+v, want %s", tc.podIP, nf.Local[0], tc.want)
		}
		if tc.want == observe.No && (v.Action != "DROP" || len(v.Rules) != 1 || v.Rules[0] != "-A INPUT -s 10.244.3.0/24 -d 169.254.20.10/32 -p udp -m udp --dport 53 -j DROP") {
			t.Errorf("the deciding rule: %+v", v)
		}
	}
}

// joinSections is the line-by-line reading splitSections replaced; the two
// must agree on every output.
func joinSections(out string) []section {
	var secs []section
	var cur *section
	var body []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "@@rc "):
			if cur != nil {
				cur.rc, _ = strconv.Atoi(strings.TrimPrefix(line, "@@rc "))
				cur.body = strings.Join(body, "\n")
				secs = append(secs, *cur)
				cur, body = nil, nil
			}
		case strings.HasPrefix(line, "@@"):
			cur, body = &section{name: strings.TrimPrefix(line, "@@")}, nil
		case cur != nil:
			body = append(body, line)
		}
	}
	return secs
}

func TestSplitSectionsSlicesWhatJoiningRead(t *testing.T) {
	outs := map[string]string{
		"empty":          "",
		"no sections":    "a\nb\n",
		"empty body":     "@@links\n@@rc 0\n",
		"blank lines":    "@@links\n\nx\n\n@@rc 1\n",
		"unclosed":       "@@links\nx\n@@route4\ny",
		"rc at the end":  "@@links\nx\n@@rc 2",
		"rc, no section": "@@rc 0\n@@a\n@@rc 3\n",
		"crlf":           "@@a\r\nx\r\n@@rc 0\r\n",
	}
	files, _ := filepath.Glob("testdata/facts-script.*.out")
	if len(files) == 0 {
		t.Fatal("no captured fact-script outputs")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outs[f] = string(b)
	}
	for name, out := range outs {
		got, want := splitSections(out), joinSections(out)
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(section{})); diff != "" {
			t.Errorf("%s: (-joined +sliced)\n%s", name, diff)
		}
	}
	if n := len(splitSections(outs["testdata/facts-script.node1.out"])); n < 10 {
		t.Errorf("node1's capture gave %d sections", n)
	}
}

func FuzzSplitSections(f *testing.F) {
	f.Add("@@links\nx\n@@rc 0\n")
	f.Add("@@a\n\n@@rc 1\n@@b\n")
	f.Fuzz(func(t *testing.T, out string) {
		if diff := cmp.Diff(joinSections(out), splitSections(out), cmp.AllowUnexported(section{})); diff != "" {
			t.Fatal(diff)
		}
	})
}
