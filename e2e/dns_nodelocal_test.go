//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// nodeLocal puts a NodeLocal DNSCache (e2e/testdata/nodelocaldns.yaml) in
// front of the lab's CoreDNS for the test, and takes it away after it,
// the nodes' nodelocaldns interfaces included.
func nodeLocal(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "e2e", "testdata", "nodelocaldns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.SplitN(string(b), "\n---\n", 2)
	applyYAML(t, docs[0]) // the Service first: the cache forwards to its ClusterIP
	ip := kubectl(t, "-n", "kube-system", "get", "service", "kube-dns-upstream", "-o", "jsonpath={.spec.clusterIP}")
	applyYAML(t, strings.ReplaceAll(docs[1], "UPSTREAM", ip))
	t.Cleanup(func() {
		for _, n := range []string{"nc-node1", "nc-node2", "nc-node3"} {
			_ = runOnNode(n, "ip", "link", "del", "nodelocaldns")
		}
	})
	kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/node-local-dns", "--timeout=120s")
	readyEndpoints(t, "kube-system", "kube-dns-upstream", 1)
}

// nodeLocalFinding runs dns and wants exactly one finding, of cause.
func nodeLocalFinding(t *testing.T, cause diagnose.Cause) (result, diagnose.Finding) {
	t.Helper()
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	if r.code != 1 || len(r.report.Findings) != 1 {
		t.Fatalf("want one %s finding: exit %d %+v\n%s", cause, r.code, r.report.Findings, r.stderr)
	}
	return r, finding(t, r, cause)
}

// cachePodOn names the cache's pod on node.
func cachePodOn(t *testing.T, node string) string {
	t.Helper()
	return strings.TrimSpace(kubectl(t, "-n", "kube-system", "get", "pods", "-l", "k8s-app=node-local-dns",
		"--field-selector", "spec.nodeName="+node, "-o", "jsonpath={.items[0].metadata.name}"))
}

// TestDNSNodeLocal: a NodeLocal DNSCache on every node, healthy, then two
// faults, each fixed by hand as the finding prints it:
//   - its address deleted from nc-node2's nodelocaldns interface (the pod
//     stays Ready, nothing answers at 169.254.20.10 on that node):
//     dns-nodelocal-down on nc-node2 alone; the fix deletes that node's cache
//     pod, whose successor sets the address up again;
//   - a filter INPUT rule on nc-node3 dropping its pods' queries to the
//     cache, which still answers the node: dns-nodelocal-path on nc-node3,
//     the rule quoted; the printed iptables -D removes it;
//   - kube-dns-upstream's selector changed to match no pod: every cache
//     answers SERVFAIL for cluster names the DNS pods answer directly —
//     dns-nodelocal-upstream on every node, with the selector patch.
func TestDNSNodeLocal(t *testing.T) {
	lab(t)
	if profile() == "flannel" {
		// The cache is on the node: its pods reach it through cni0 as on the
		// bridge lab, the overlay is not on the way. Its ~100 s go elsewhere.
		t.Skip("NodeLocal DNSCache is proven on the bridge lab (make e2e, make e2e-nft): the overlay is not on its path")
	}
	nodeLocal(t)
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	healthy(t, r)
	mustContain(t, "notes", r.report.Notes, "NodeLocal DNSCache (DaemonSet kube-system/node-local-dns, 3 pods) asked at 169.254.20.10")

	t.Run("address gone on nc-node2", func(t *testing.T) {
		if err := runOnNode("nc-node2", "ip", "addr", "del", "169.254.20.10/32", "dev", "nodelocaldns"); err != nil {
			t.Fatal(err)
		}
		pod := cachePodOn(t, "nc-node2")
		_, f := nodeLocalFinding(t, diagnose.CauseDNSNodeLocalDown)
		if strings.Join(f.Nodes, ",") != "nc-node2" {
			t.Errorf("%s on %v, want nc-node2", f.Cause, f.Nodes)
		}
		mustContain(t, "summary", []string{f.Summary}, "is Ready but nothing answers at 169.254.20.10")
		mustContain(t, "evidence", f.Evidence, "node@nc-node2 dns nodelocal 169.254.20.10: dns-failure")
		fix := "kubectl -n kube-system delete pod " + pod + "   #"
		mustContain(t, "fix", f.Fix, fix)
		// The fix, as printed.
		kubectl(t, "-n", "kube-system", "delete", "pod", pod)
		kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/node-local-dns", "--timeout=120s")
		healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
	})

	t.Run("INPUT drops nc-node3's pods' queries", func(t *testing.T) {
		cidr := podCIDR("nc-node3")
		rule := []string{"INPUT", "-s", cidr, "-d", "169.254.20.10", "-p", "udp", "--dport", "53", "-j", "DROP"}
		if err := runOnNode("nc-node3", append([]string{"iptables", "-I"}, rule...)...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = runOnNode("nc-node3", append([]string{"iptables", "-D"}, rule...)...) })
		_, f := nodeLocalFinding(t, diagnose.CauseDNSNodeLocalPath)
		if strings.Join(f.Nodes, ",") != "nc-node3" {
			t.Errorf("%s on %v, want nc-node3", f.Cause, f.Nodes)
		}
		mustContain(t, "summary", []string{f.Summary}, "the node's input hook drops its pods' queries to NodeLocal DNSCache at 169.254.20.10")
		mustContain(t, "evidence", f.Evidence, "node@nc-node3 dns nodelocal 169.254.20.10: ok")
		fix := "iptables -D INPUT -s " + cidr + " -d 169.254.20.10/32 -p udp -m udp --dport 53 -j DROP   # remove the rule that drops it"
		mustContain(t, "fix", f.Fix, fix)
		if err := runOnNode("nc-node3", strings.Fields(strings.Split(fix, "   #")[0])...); err != nil {
			t.Fatalf("the printed fix: %v", err)
		}
		healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
	})

	t.Run("upstream Service selects nothing", func(t *testing.T) {
		kubectl(t, "-n", "kube-system", "patch", "service", "kube-dns-upstream", "-p", `{"spec":{"selector":{"k8s-app":"kube-dns-retired"}}}`)
		// CoreDNS's forward keeps its TCP connections to the upstream for
		// 10 s (expire): until then a cache that asked recently still
		// reaches the old endpoint through its conntrack entry, and answers.
		time.Sleep(11 * time.Second)
		r, f := nodeLocalFinding(t, diagnose.CauseDNSNodeLocalUpstream)
		if len(f.Nodes) != len(r.report.Nodes) {
			t.Errorf("%s on %v, want every node", f.Cause, f.Nodes)
		}
		mustContain(t, "summary", []string{f.Summary}, "whose selector k8s-app=kube-dns-retired matches no DNS pod (cluster DNS's is k8s-app=kube-dns)")
		mustContain(t, "evidence", f.Evidence, "Service kube-system/kube-dns-upstream (")
		const fix = `kubectl -n kube-system patch service kube-dns-upstream --type json -p '[{"op":"replace","path":"/spec/selector","value":{"k8s-app":"kube-dns"}}]'`
		mustContain(t, "fix", f.Fix, fix)
		kubectl(t, "-n", "kube-system", "patch", "service", "kube-dns-upstream", "--type", "json", "-p", `[{"op":"replace","path":"/spec/selector","value":{"k8s-app":"kube-dns"}}]`)
		readyEndpoints(t, "kube-system", "kube-dns-upstream", 1)
		healthy(t, netcheck(t, 2*time.Minute, "dns", "-o", "json"))
	})
}
