package probe

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// awks are the awk programs the filter must run in: busybox's (the probe
// image's) and the host's. At least one must be here.
func awks(t *testing.T) [][]string {
	var out [][]string
	if p, err := exec.LookPath("busybox"); err == nil {
		out = append(out, []string{p, "awk"})
	}
	for _, name := range []string{"mawk", "gawk"} {
		if p, err := exec.LookPath(name); err == nil {
			out = append(out, []string{p})
		}
	}
	if len(out) == 0 {
		t.Fatal("no awk on this machine (busybox, mawk, gawk): the rule filter cannot be tested")
	}
	return out
}

func runFilter(t *testing.T, awk []string, dump string, words ...string) string {
	t.Helper()
	cmd := exec.Command(awk[0], append(append(append([]string(nil), awk[1:]...), ruleFilter), words...)...)
	cmd.Stdin = strings.NewReader(dump)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", awk, err, out)
	}
	return string(out)
}

func labDump(t *testing.T) string {
	b, err := os.ReadFile("../facts/testdata/kubeproxy-service.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	webVIP  = facts.VIP{Addr: netip.MustParseAddr("10.98.230.191"), Proto: "tcp", Port: 80}
	webNP   = facts.VIP{Proto: "tcp", Port: 30766}
	dnsVIP  = facts.VIP{Addr: netip.MustParseAddr("10.96.0.10"), Proto: "udp", Port: 53}
	typoVIP = facts.VIP{Addr: netip.MustParseAddr("10.111.88.75"), Proto: "tcp", Port: 80}
)

func proxyOf(dump string, vips ...facts.VIP) observe.KubeProxy {
	return facts.KubeProxy(facts.ProxyInput{Sets: []facts.Ruleset{facts.ParseIptablesSave(dump)}}, vips)
}

// The Services asked about read the same from the filtered dump as from
// the whole one; the others are gone, and the filter says so.
func TestRuleFilterKeepsTheServicesAskedAbout(t *testing.T) {
	whole := labDump(t)
	words := filterWords(FactsQuery{VIPs: []facts.VIP{webVIP, webNP, typoVIP}})
	for _, awk := range awks(t) {
		got := runFilter(t, awk, whole, words...)
		for _, v := range []facts.VIP{webVIP, webNP, typoVIP} {
			want, have := proxyOf(whole, v).Services[0], proxyOf(got, v).Services[0]
			if have.Programmed != want.Programmed || have.Endpoints != want.Endpoints || have.Rejects != want.Rejects {
				t.Errorf("%v: %s: filtered %+v, whole %+v", awk, v.Key(), have, want)
			}
		}
		if want := proxyOf(whole, webVIP).Services[0].Endpoints; want != 3 {
			t.Fatalf("the capture's shop/web has 3 endpoints, read %d", want)
		}
		if dns := proxyOf(got, dnsVIP).Services[0]; dns.Programmed != observe.No {
			t.Errorf("%v: kube-dns was not asked about and is still in the dump: %+v", awk, dns)
		}
		if proxyOf(got).Mode != "iptables" {
			t.Errorf("%v: the proxy mode is no longer seen", awk)
		}
		if !strings.Contains(got, "# netcheck: left out ") || strings.Contains(got, "KUBE-SVC-TCOU7JCQXEZGVUNU") {
			t.Errorf("%v: kube-dns's chain kept, or no account of what was left out:\n%s", awk, got)
		}
		// Everything that is not per-Service is kept, line for line.
		kept := map[string]bool{}
		for _, l := range strings.Split(got, "\n") {
			kept[l] = true
		}
		for _, l := range strings.Split(whole, "\n") {
			if strings.Contains(l, "KUBE-SVC-") || strings.Contains(l, "KUBE-SEP-") || strings.Contains(l, "KUBE-EXT-") ||
				strings.HasPrefix(l, "-A KUBE-SERVICES -d ") || strings.HasPrefix(l, "-A KUBE-NODEPORTS ") {
				continue
			}
			if !kept[l] {
				t.Errorf("%v: left out a rule that is not per-Service: %q", awk, l)
			}
		}
	}
}

// manyServices adds n Services in kube-proxy's shape to the lab's dump.
func manyServices(whole string, n int) string {
	var decl, rules, svc strings.Builder
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("%016X", i)
		ip := fmt.Sprintf("10.100.%d.%d", i/250, i%250+1)
		fmt.Fprintf(&decl, ":KUBE-SVC-%s - [0:0]\n:KUBE-SEP-%s - [0:0]\n", h, h)
		fmt.Fprintf(&svc, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"load/s%d:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%s\n", ip, i, h)
		fmt.Fprintf(&rules, "-A KUBE-SVC-%s -m comment --comment \"load/s%d:http -> 10.244.1.9:8080\" -j KUBE-SEP-%s\n", h, i, h)
		fmt.Fprintf(&rules, "-A KUBE-SEP-%s -p tcp -m comment --comment \"load/s%d:http\" -m tcp -j DNAT --to-destination 10.244.1.9:8080\n", h, i)
	}
	// Into the nat table: declarations after its header, rules before its COMMIT.
	nat := strings.Index(whole, "*nat\n")
	head, tail := whole[:nat+len("*nat\n")], whole[nat+len("*nat\n"):]
	commit := strings.Index(tail, "\nCOMMIT")
	return head + decl.String() + tail[:commit+1] + svc.String() + rules.String() + tail[commit+1:]
}

// What crosses the API server does not grow with the cluster's Services.
func TestRuleFilterOutputDoesNotGrowWithServices(t *testing.T) {
	whole := labDump(t)
	words := filterWords(FactsQuery{VIPs: []facts.VIP{webVIP}})
	big := manyServices(whole, 5000)
	if proxyOf(big, facts.VIP{Addr: netip.MustParseAddr("10.100.19.250"), Proto: "tcp", Port: 80}).Services[0].Endpoints != 1 {
		t.Fatal("the synthetic Services are not in kube-proxy's shape")
	}
	for _, awk := range awks(t) {
		small := runFilter(t, awk, whole, words...)
		large := runFilter(t, awk, big, words...)
		if len(big) < 100*len(small) || len(large) > len(small)+100 {
			t.Errorf("%v: %d bytes of rules filter to %d; the lab's %d to %d", awk, len(big), len(large), len(whole), len(small))
		}
		if have := proxyOf(large, webVIP).Services[0]; have.Programmed != observe.Yes || have.Endpoints != 3 {
			t.Errorf("%v: shop/web among 5000 others: %+v", awk, have)
		}
		// 3 rules and 2 chains per synthetic Service, and the lab's own others.
		var rules, chains int
		if _, err := fmt.Sscanf(large[strings.LastIndex(large, "# netcheck: "):], "# netcheck: left out %d rules and %d chains", &rules, &chains); err != nil || rules < 15000 || chains < 10000 {
			t.Errorf("%v: account: %q (%v)", awk, large[strings.LastIndex(large, "#"):], err)
		}
	}
}

func TestRuleFilterFitsInTheScriptsQuotes(t *testing.T) {
	for name, prog := range map[string]string{"ruleFilter": ruleFilter, "nftFilter": nftFilter} {
		if strings.Contains(prog, "'") {
			t.Errorf("%s holds a single quote: the fact script keeps it in single quotes", name)
		}
	}
}

func TestLeftOutIsReadBack(t *testing.T) {
	out := "@@dump iptables-nft-save\n*nat\nCOMMIT\n# netcheck: left out 12 rules and 4 chains of Services not asked about\n@@rc 0\n"
	raw := ParseFacts(out, FactsQuery{PodIP: "", Targets: nil})
	if len(raw.Dumps) != 1 || !strings.HasSuffix(raw.Dumps[0].Tool, "via nsenter; left out 12 rules and 4 chains of Services not asked about)") {
		t.Fatalf("dumps: %+v", raw.Dumps)
	}
}

func nftProxyOf(t *testing.T, doc string, vips ...facts.VIP) observe.KubeProxy {
	t.Helper()
	nf, err := facts.ParseNftJSON(withoutAccounts(doc), false)
	if err != nil {
		t.Fatalf("filtered document does not parse: %v", err)
	}
	return facts.KubeProxy(facts.ProxyInput{Nft: nf}, vips)
}

func labNft(t *testing.T) string {
	b, err := os.ReadFile("../facts/testdata/kubeproxy-nftables.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func runNftFilter(t *testing.T, awk []string, doc string, words ...string) string {
	t.Helper()
	cmd := exec.Command(awk[0], append(append(append([]string(nil), awk[1:]...), nftFilter), words...)...)
	cmd.Stdin = strings.NewReader(doc)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", awk, err, out)
	}
	return string(out)
}

// kube-proxy's nftables table from the lab (nftables mode): the Services
// asked about read the same filtered as whole, and the others' chains are gone.
func TestNftFilterKeepsTheServicesAskedAbout(t *testing.T) {
	whole := labNft(t)
	asked := []facts.VIP{
		{Addr: netip.MustParseAddr("10.96.0.10"), Proto: "udp", Port: 53},
		{Addr: netip.MustParseAddr("10.111.218.170"), Proto: "tcp", Port: 80}, // nc-shop/web
		{Proto: "tcp", Port: 32199},                                           // its node port
		{Addr: netip.MustParseAddr("10.104.48.227"), Proto: "tcp", Port: 80},  // nc-shop/typo: no endpoints
		{Addr: netip.MustParseAddr("198.18.0.200"), Proto: "tcp", Port: 80},   // nc-shop/edge's load balancer
	}
	other := facts.VIP{Addr: netip.MustParseAddr("10.97.30.115"), Proto: "tcp", Port: 80} // nc-shop/deaf
	words := filterWords(FactsQuery{VIPs: asked})
	for _, awk := range awks(t) {
		got := runNftFilter(t, awk, whole, words...)
		for _, v := range asked {
			want, have := nftProxyOf(t, whole, v).Services[0], nftProxyOf(t, got, v).Services[0]
			if have.Programmed != want.Programmed || have.Endpoints != want.Endpoints || have.Rejects != want.Rejects || want.Programmed != observe.Yes {
				t.Errorf("%v: %s: filtered %+v, whole %+v", awk, v.Key(), have, want)
			}
		}
		if nftProxyOf(t, got).Mode != "nftables" {
			t.Errorf("%v: kube-proxy's table is no longer seen", awk)
		}
		if strings.Contains(got, "nc-shop/deaf/tcp/http\", \"handle") || !strings.Contains(got, "\n# netcheck: left out ") {
			t.Errorf("%v: the chain of a Service not asked about was kept, or no account", awk)
		}
		if w := nftProxyOf(t, whole, other).Services[0]; w.Endpoints < 1 {
			t.Fatalf("nc-shop/deaf has endpoints in the capture: %+v", w)
		}
		// The base chains, sets and maps are all kept.
		for _, keep := range []string{`"name": "filter-forward"`, `"name": "nat-postrouting"`, `"name": "services"`, `"name": "service-ips"`, `"name": "cluster-ips"`} {
			if !strings.Contains(got, keep) {
				t.Errorf("%v: left out %s", awk, keep)
			}
		}
	}
}

// manyNftServices adds n Service ports to the lab's table, each in the
// shape of kube-dns's UDP port: a map element, a service chain, an
// endpoint chain, and their rules.
func manyNftServices(t *testing.T, whole string, n int) string {
	// Cut nft's own text (nft's key order matters) at its top-level objects.
	body := strings.TrimSuffix(strings.TrimSpace(whole), "]}")
	cuts := regexp.MustCompile(`, \{"(chain|rule|map|set)": \{"family"`).FindAllStringIndex(body, -1)
	var like []string
	for i, c := range cuts {
		end := len(body)
		if i+1 < len(cuts) {
			end = cuts[i+1][0]
		}
		if o := body[c[0]+2 : end]; strings.Contains(o, "kube-dns/udp") && !strings.HasPrefix(o, `{"map"`) {
			like = append(like, o)
		}
	}
	if len(like) < 3 {
		t.Fatalf("kube-dns's UDP chains not found in the capture: %d objects", len(like))
	}
	tmpl := "[" + strings.Join(like, ", ") + "]"
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(strings.TrimSpace(whole), "]}"))
	for i := 0; i < n; i++ {
		s := strings.NewReplacer("kube-system/kube-dns/udp", fmt.Sprintf("load/s%d/udp", i), "FY5PMXPG", fmt.Sprintf("S%07d", i), "437LDP5X", fmt.Sprintf("E%07d", i)).Replace(tmpl)
		b.WriteString(", " + strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	}
	b.WriteString("]}\n")
	big := b.String()
	// Each Service port's element in service-ips, at the head of its list.
	var elems strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&elems, `[{"concat": ["10.100.%d.%d", "udp", 53]}, {"goto": {"target": "service-S%07d-load/s%d/udp/dns"}}], `, i/250, i%250+1, i, i)
	}
	at := strings.Index(big, `"name": "service-ips"`)
	at += strings.Index(big[at:], `"elem": [`) + len(`"elem": [`)
	return big[:at] + elems.String() + big[at:]
}

// What crosses the API server grows by the maps' elements only (about a
// hundred bytes per Service port), not by the Services' chains.
func TestNftFilterOutputDoesNotGrowWithServiceChains(t *testing.T) {
	whole := labNft(t)
	const n = 3000
	big := manyNftServices(t, whole, n)
	far := facts.VIP{Addr: netip.MustParseAddr("10.100.11.250"), Proto: "udp", Port: 53} // s2999
	if got := nftProxyOf(t, big, far).Services[0]; got.Programmed != observe.Yes || got.Endpoints != 1 {
		t.Fatalf("the synthetic Services are not in kube-proxy's shape: %+v", got)
	}
	dns := facts.VIP{Addr: netip.MustParseAddr("10.96.0.10"), Proto: "udp", Port: 53}
	words := filterWords(FactsQuery{VIPs: []facts.VIP{dns, far}})
	for _, awk := range awks(t) {
		small := runNftFilter(t, awk, whole, words...)
		large := runNftFilter(t, awk, big, words...)
		perService := (len(large) - len(small)) / n
		if len(big)-len(whole) < 1500*n || perService > 120 {
			t.Errorf("%v: %d bytes per Service port whole, %d filtered", awk, (len(big)-len(whole))/n, perService)
		}
		for _, v := range []facts.VIP{dns, far} {
			if got := nftProxyOf(t, large, v).Services[0]; got.Programmed != observe.Yes || got.Endpoints != 1 {
				t.Errorf("%v: %s among %d others: %+v", awk, v.Key(), n, got)
			}
		}
	}
}

func TestNftFilterPassesOtherShapes(t *testing.T) {
	for _, awk := range awks(t) {
		for _, in := range []string{"Error: No such file or directory\nlist table ip kube-proxy\n", "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}}]}\n"} {
			if got := runNftFilter(t, awk, in, "+a10.96.0.10"); got != in {
				t.Errorf("%v: %q came out as %q", awk, in, got)
			}
		}
	}
}
