//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// corefile is the lab CoreDNS's Corefile as the ConfigMap holds it.
func corefile(t *testing.T) string {
	t.Helper()
	return kubectl(t, "-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}")
}

// setCorefile writes the ConfigMap's Corefile.
func setCorefile(t *testing.T, c string) {
	t.Helper()
	p, err := json.Marshal(map[string]any{"data": map[string]string{"Corefile": c}})
	if err != nil {
		t.Fatal(err)
	}
	kubectl(t, "-n", "kube-system", "patch", "configmap", "coredns", "--type", "merge", "-p", string(p))
}

// dnsBack waits for the DNS Deployment to be rolled out and its one pod
// behind the Service again.
func dnsBack(t *testing.T) {
	t.Helper()
	kubectl(t, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s")
	readyEndpoints(t, "kube-system", "kube-dns", 1)
}

// keepCorefile puts the lab's Corefile back when the test ends, and CoreDNS
// on it.
func keepCorefile(t *testing.T) string {
	t.Helper()
	orig := corefile(t)
	t.Cleanup(func() {
		setCorefile(t, orig)
		kubectl(t, "-n", "kube-system", "rollout", "restart", "deployment/coredns")
		dnsBack(t)
	})
	return orig
}

// TestDNSStubDomainMissing: corp.example is the nodes' private zone — their
// resolver (198.19.0.53) serves it, CoreDNS's upstream (198.19.0.1) answers
// NXDOMAIN — and the lab's Corefile has no stub domain for it, as a cluster
// in a company network that forgot one. No fault is injected. `dns
// --outside` and `external` both name the missing stub domain, not a route;
// the printed server block, added by hand and CoreDNS restarted as printed,
// makes both healthy.
func TestDNSStubDomainMissing(t *testing.T) {
	lab(t)
	orig := keepCorefile(t)
	stub := func(r result, nodes int) diagnose.Finding {
		t.Helper()
		if r.code != 1 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		f := finding(t, r, diagnose.CauseDNSStubDomain)
		if len(r.report.Findings) != 1 || len(f.Nodes) != nodes {
			t.Fatalf("want one %s on every node: %+v", diagnose.CauseDNSStubDomain, r.report.Findings)
		}
		mustContain(t, "summary", []string{f.Summary}, "their resolver 198.19.0.53")
		mustContain(t, "summary", []string{f.Summary}, "forwards it to 198.19.0.1, which does not know it (NXDOMAIN)")
		mustContain(t, "fix", f.Fix, "    forward . 198.19.0.53")
		return f
	}
	d := netcheck(t, 2*time.Minute, "dns", "--outside", "db.corp.example", "-o", "json")
	f := stub(d, len(d.report.Nodes))
	mustContain(t, "fix", f.Fix, "corp.example:53 {")
	e := netcheck(t, 2*time.Minute, "external", "db.corp.example", "-o", "json")
	stub(e, len(e.report.Nodes))

	// The fix, by hand: the block the finding prints, beside the root zone's.
	var block []string
	for i, l := range f.Fix {
		if strings.HasSuffix(l, ":53 {") {
			block = f.Fix[i : i+5]
		}
	}
	if len(block) != 5 || block[4] != "}" {
		t.Fatalf("no server block in the fix: %q", f.Fix)
	}
	setCorefile(t, orig+strings.Join(block, "\n")+"\n")
	kubectl(t, command(f.Fix[len(f.Fix)-1])[1:]...) // kubectl -n kube-system rollout restart deployment coredns
	dnsBack(t)
	healthy(t, netcheck(t, 2*time.Minute, "dns", "--outside", "db.corp.example", "-o", "json"))
	healthy(t, netcheck(t, 2*time.Minute, "external", "db.corp.example", "-o", "json"))
	noProbePodsLeft(t)
}

// TestDNSForwardLoop: kubeadm's Corefile (forward . /etc/resolv.conf) on
// nodes whose resolv.conf names a loopback stub (127.0.0.53, as with
// systemd-resolved): in the CoreDNS pod that address is CoreDNS itself, the
// loop plugin sees its own query come back and stops the server, which
// crash-loops. The verdict names the loop on the CoreDNS pod's node, with the
// log line; the printed Corefile fix (forward to the nodes' real resolver,
// 198.19.0.53) and the printed pod delete, applied by hand, make it healthy.
func TestDNSForwardLoop(t *testing.T) {
	lab(t)
	orig := keepCorefile(t)
	if !strings.Contains(orig, "forward . 198.19.0.1") {
		t.Fatalf("the lab's Corefile has no forward . 198.19.0.1:\n%s", orig)
	}
	for _, n := range labNodes {
		fault(t, n, "dns-loop")
	}
	setCorefile(t, strings.Replace(orig, "forward . 198.19.0.1", "forward . /etc/resolv.conf", 1))
	kubectl(t, "-n", "kube-system", "delete", "pod", "-l", "k8s-app=kube-dns", "--wait=true")
	restarted := func() bool {
		for _, c := range strings.Fields(kubectl(t, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns",
			"-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}")) {
			if c != "0" {
				return true
			}
		}
		return false
	}
	// The fault is in place once the stopped run's log holds the loop
	// plugin's line, as `kubectl logs --previous` shows it.
	looped := func() bool {
		if !restarted() {
			return false
		}
		cmd := exec.Command("kubectl", "-n", "kube-system", "logs", "-l", "k8s-app=kube-dns", "--previous", "--tail=50")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
		out, err := cmd.CombinedOutput()
		return err == nil && strings.Contains(string(out), "plugin/loop: Loop (")
	}
	deadline := time.Now().Add(90 * time.Second)
	for !looped() {
		if time.Now().After(deadline) {
			t.Fatal("CoreDNS did not stop on a loop within 90 s")
		}
		time.Sleep(2 * time.Second)
	}
	on := strings.TrimSpace(kubectl(t, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[0].spec.nodeName}"))
	r := netcheck(t, 2*time.Minute, "dns", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseDNSForwardLoop)
	if strings.Join(f.Nodes, ",") != on || len(r.report.Findings) != 1 {
		t.Fatalf("want one %s on %s: %+v", diagnose.CauseDNSForwardLoop, on, r.report.Findings)
	}
	mustContain(t, "evidence", f.Evidence, "[FATAL] plugin/loop: Loop (")
	mustContain(t, "evidence", f.Evidence, "ConfigMap kube-system/coredns: forward . /etc/resolv.conf")
	mustContain(t, "fix", f.Fix, "resolvConf: /run/systemd/resolve/resolv.conf")

	// The fix, by hand: the printed Corefile change with the nodes' real
	// resolver, then the printed delete of the DNS pods.
	mustContain(t, "fix", f.Fix, "forward . <upstream resolver IP> instead of /etc/resolv.conf")
	setCorefile(t, strings.Replace(orig, "forward . 198.19.0.1", "forward . 198.19.0.53", 1))
	del := command(f.Fix[1])
	if strings.Join(del, " ") != "kubectl -n kube-system delete pod -l k8s-app=kube-dns" {
		t.Fatalf("fix line %q", f.Fix[1])
	}
	kubectl(t, del[1:]...)
	dnsBack(t)
	healthy(t, netcheck(t, 2*time.Minute, "dns", "--outside", "www.example.net", "-o", "json"))
	noProbePodsLeft(t)
}
