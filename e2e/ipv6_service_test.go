//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// The dual-stack Services, in namespace nc-dual: web6 (3 echo pods, one per
// node, PreferDualStack: a ClusterIP in each family, an EndpointSlice in
// each family written by Kubernetes); half (no selector, PreferDualStack,
// its two EndpointSlices written by this test as a custom controller would:
// the IPv4 one lists web6's pods ready, the IPv6 one lists the same pods'
// IPv6 addresses with ready=false — a controller that has not marked them).
const dualYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: nc-dual}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web6, namespace: nc-dual}
spec:
  replicas: 3
  selector: {matchLabels: {app: web6}}
  template:
    metadata: {labels: {app: web6}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web6}}}
      containers:
      - name: echo
        image: netcheck.local/echo:1
        imagePullPolicy: Never
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: nc-dual}
spec:
  ipFamilyPolicy: PreferDualStack
  ipFamilies: [IPv4, IPv6]
  selector: {app: web6}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: half, namespace: nc-dual}
spec:
  ipFamilyPolicy: PreferDualStack
  ipFamilies: [IPv4, IPv6]
  ports: [{name: http, port: 80, targetPort: 8080}]
`

// halfManager is the managed-by label of half's hand-written slices.
const halfManager = "e2e.netcheck.local"

var dualOnce sync.Once

// dualShop deploys the dual-stack Services once per run; the lab is torn
// down after the suite.
func dualShop(t *testing.T) {
	t.Helper()
	dualStack(t)
	dualOnce.Do(func() {
		f := filepath.Join(t.TempDir(), "dual.yaml")
		if err := os.WriteFile(f, []byte(dualYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl(t, "apply", "-f", f)
		kubectl(t, "-n", "nc-dual", "rollout", "status", "deployment/web6", "--timeout=120s")
		readyEndpoints(t, "nc-dual", "web6", 6) // 3 pods, an IPv4 and an IPv6 endpoint each
	})
}

// halfSlices writes half's EndpointSlices from web6's pods: IPv4 ready,
// IPv6 not ready.
func halfSlices(t *testing.T) {
	t.Helper()
	out := kubectl(t, "-n", "nc-dual", "get", "pods", "-l", "app=web6", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{range .status.podIPs[*]} {.ip}{end}{"\n"}{end}`)
	var v4, v6 []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("pod without an address of each family: %q", line)
		}
		for _, ip := range f[2:] {
			ep := fmt.Sprintf("  - {addresses: [%q], nodeName: %s, targetRef: {kind: Pod, namespace: nc-dual, name: %s}, conditions: {ready: %t}}\n",
				ip, f[1], f[0], !strings.Contains(ip, ":"))
			if strings.Contains(ip, ":") {
				v6 = append(v6, ep)
			} else {
				v4 = append(v4, ep)
			}
		}
	}
	slice := func(name, family string, eps []string) string {
		return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s
  namespace: nc-dual
  labels: {kubernetes.io/service-name: half, endpointslice.kubernetes.io/managed-by: %s}
addressType: %s
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
%s`, name, halfManager, family, strings.Join(eps, ""))
	}
	applyYAML(t, slice("half-v4", "IPv4", v4)+"---\n"+slice("half-v6", "IPv6", v6))
}

// clusterIPs is the Service's spec.clusterIPs.
func clusterIPs(t *testing.T, svc string) []string {
	t.Helper()
	ips := strings.Fields(kubectl(t, "-n", "nc-dual", "get", "service", svc, "-o", "jsonpath={.spec.clusterIPs[*]}"))
	if len(ips) != 2 || !strings.Contains(ips[1], ":") {
		t.Fatalf("%s: clusterIPs %v, want an IPv4 and an IPv6 one", svc, ips)
	}
	return ips
}

// TestIPv6ServiceHealthy: the healthy dual-stack Service gives no finding,
// and each ClusterIP was connected from both sides of every node, each
// family's endpoints from the pods, and each ClusterIP's rules found.
func TestIPv6ServiceHealthy(t *testing.T) {
	dualShop(t)
	ips := clusterIPs(t, "web6")
	r := netcheck(t, 2*time.Minute, "service", "web6", "-n", "nc-dual", "-o", "json")
	healthy(t, r)
	if len(r.report.Nodes) != 3 {
		t.Fatalf("%d nodes probed, want 3", len(r.report.Nodes))
	}
	for _, n := range r.report.Nodes {
		for _, ip := range ips {
			for side, checks := range map[string][]observe.Check{"pod": n.Pod.Checks, "node": n.Host.Checks} {
				c := findCheck(checks, diagnose.SvcClusterIPKey(ip, 80))
				if c == nil || c.Outcome != observe.OK {
					t.Errorf("%s@%s: ClusterIP %s: %+v", side, n.Name, ip, c)
				}
			}
			vip := diagnose.ServiceInput{Port: diagnose.ServicePort{Protocol: "tcp", Port: 80}}.ClusterIPVIPOf(ip)
			found := false
			for _, sr := range n.Facts.KubeProxy.Services {
				if sr.VIP == vip {
					found = true
					if sr.Programmed != observe.Yes || sr.Endpoints != 3 {
						t.Errorf("%s: proxy rules for %s: %+v", n.Name, vip, sr)
					}
				}
			}
			if !found {
				t.Errorf("%s: no proxy facts for %s", n.Name, vip)
			}
		}
		v6 := 0
		for _, c := range n.Pod.Checks {
			if c.ID.Role == observe.RoleEndpoint && strings.Contains(c.ID.Addr, ":") {
				v6++
				if c.Outcome != observe.OK {
					t.Errorf("%s: %s: %s", n.Name, c.ID, c.Outcome)
				}
			}
		}
		if v6 != 3 {
			t.Errorf("%s: %d IPv6 endpoints connected, want 3", n.Name, v6)
		}
	}
	t.Logf("table:\n%s", netcheck(t, 2*time.Minute, "service", "web6", "-n", "nc-dual").stdout)
	noProbePodsLeft(t)
}

// TestIPv6ServiceFamilyNotReady: half's IPv6 endpoints are not ready, its
// IPv4 ones are: the IPv6 ClusterIP is refused, the IPv4 one answers; the
// verdict names the family, the slice and its endpoints. The printed patch
// (the Service single-stack, for a Service that need not answer over IPv6),
// applied by hand, makes the run healthy.
func TestIPv6ServiceFamilyNotReady(t *testing.T) {
	dualShop(t)
	halfSlices(t)
	ips := clusterIPs(t, "half")
	time.Sleep(2 * time.Second) // kube-proxy's minSyncPeriod is 1 s
	r := netcheck(t, 2*time.Minute, "service", "half", "-n", "nc-dual", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := finding(t, r, diagnose.CauseFamilyNoEndpoints)
	if len(r.report.Findings) != 1 {
		t.Fatalf("want only %s: %+v", diagnose.CauseFamilyNoEndpoints, r.report.Findings)
	}
	mustContain(t, "summary", []string{f.Summary}, fmt.Sprintf("IPv6 ClusterIP %s has no ready endpoint while its IPv4 ClusterIP %s has 3", ips[1], ips[0]))
	mustContain(t, "evidence", f.Evidence, "EndpointSlice half-v6 (IPv6, managed by "+halfManager+"): 0 of 3 endpoints ready; not ready: fd00:10:244:")
	mustContain(t, "evidence", f.Evidence, "EndpointSlice half-v4 (IPv4, managed by "+halfManager+"): 3 of 3 endpoints ready")
	mustContain(t, "evidence", f.Evidence, fmt.Sprintf("tcp cluster-ip [%s]:80: refused", ips[1]))
	mustContain(t, "evidence", f.Evidence, fmt.Sprintf("tcp cluster-ip %s:80: ok", ips[0]))
	mustContain(t, "fix", f.Fix, "the IPv6 EndpointSlice is written by "+halfManager+", not by Kubernetes' EndpointSlice controller")
	var patch string
	for _, l := range f.Fix {
		if strings.HasPrefix(l, "kubectl -n nc-dual patch service half") {
			patch = l
		}
	}
	if patch == "" {
		t.Fatalf("no patch among the fixes: %q", f.Fix)
	}
	t.Logf("table:\n%s", netcheck(t, 2*time.Minute, "service", "half", "-n", "nc-dual").stdout)

	// The fix, by hand: the printed patch, as a shell would run it; the
	// Service dual-stack again after the test.
	t.Cleanup(func() {
		kubectl(t, "-n", "nc-dual", "patch", "service", "half", "-p", `{"spec":{"ipFamilyPolicy":"PreferDualStack","ipFamilies":["IPv4","IPv6"]}}`)
	})
	argv := command(patch)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", patch, err, out)
	}
	if got := kubectl(t, "-n", "nc-dual", "get", "service", "half", "-o", "jsonpath={.spec.clusterIPs[*]}"); strings.TrimSpace(got) != ips[0] {
		t.Fatalf("after the patch clusterIPs = %q, want %s alone", got, ips[0])
	}
	time.Sleep(2 * time.Second)
	healthy(t, netcheck(t, 2*time.Minute, "service", "half", "-n", "nc-dual", "-o", "json"))
	noProbePodsLeft(t)
}

// TestIPv6ServiceForwardDrop: ip6tables' FORWARD policy DROP on nc-node2.
// Its pods reach no IPv6 endpoint on another node, no other node's pods
// reach its IPv6 endpoint; IPv4 passes. The verdict names nc-node2 and
// ip6tables; the printed fix, applied on the node by hand, makes the run
// healthy.
func TestIPv6ServiceForwardDrop(t *testing.T) {
	dualShop(t)
	fault(t, "nc-node2", "forward-drop6")
	r := netcheck(t, 2*time.Minute, "service", "web6", "-n", "nc-dual", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := finding(t, r, diagnose.CauseForwardDrop)
	if strings.Join(f.Nodes, ",") != "nc-node2" || len(r.report.Findings) != 1 {
		t.Fatalf("want one %s on nc-node2, got %+v", diagnose.CauseForwardDrop, r.report.Findings)
	}
	mustContain(t, "summary", []string{f.Summary}, "IPv6 FORWARD chain")
	mustContain(t, "summary", []string{f.Summary}, "other nodes' pods lose the IPv6 endpoints on it; IPv4 passes")
	mustContain(t, "evidence", f.Evidence, "node@nc-node2: filter FORWARD: policy DROP")
	cidr := podCIDR6("nc-node2")
	want := []string{"ip6tables -I FORWARD -s " + cidr + " -j ACCEPT", "ip6tables -I FORWARD -d " + cidr + " -j ACCEPT"}
	for i, w := range want {
		if i >= len(f.Fix) || strings.TrimSpace(strings.SplitN(f.Fix[i], "#", 2)[0]) != w {
			t.Fatalf("fix line %d: want %q, got %q", i, w, f.Fix)
		}
	}
	t.Logf("table:\n%s", netcheck(t, 2*time.Minute, "service", "web6", "-n", "nc-dual").stdout)

	// The fix, by hand, on nc-node2: the two lines printed.
	for _, l := range f.Fix[:2] {
		argv := command(l)
		onNode(t, "nc-node2", argv...)
		t.Cleanup(func() { // the lab as it was: the fault's restore resets the policy only
			_ = runOnNode("nc-node2", append([]string{"ip6tables", "-D"}, argv[2:]...)...)
		})
	}
	healthy(t, netcheck(t, 2*time.Minute, "service", "web6", "-n", "nc-dual", "-o", "json"))
	noProbePodsLeft(t)
}

func findCheck(cs []observe.Check, id observe.CheckID) *observe.Check {
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i]
		}
	}
	return nil
}
