//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// The Services under test, in namespace nc-shop: web (3 echo pods, one per
// node, NodePort), typo (selector app=wbe), wrongport (targetPort 8081
// while the pods listen on and declare 8080), deaf (pods that declare 8080
// but listen on 8081, no readiness probe — the app started on the wrong port);
// web-headless (clusterIP None); edge (web's pods behind the external IP 198.18.0.200, an unused address of
// the lab's underlay: kube-proxy intercepts it on every node, nothing leaves);
// solo (one echo pod on nc-node1: every connect to its Service from
// itself is a hairpin); and the service account nc-probe, with no rights (for `api`).
const shopYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: nc-shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nc-probe, namespace: nc-shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: nc-shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: echo
        image: netcheck.local/echo:1
        imagePullPolicy: Never
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: deaf, namespace: nc-shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: deaf}}
  template:
    metadata: {labels: {app: deaf}}
    spec:
      containers:
      - name: echo
        image: netcheck.local/echo:1
        imagePullPolicy: Never
        env: [{name: HTTP_PORT, value: "8081"}]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: solo, namespace: nc-shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec:
      nodeSelector: {kubernetes.io/hostname: nc-node1}
      containers:
      - name: echo
        image: netcheck.local/echo:1
        imagePullPolicy: Never
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: solo, namespace: nc-shop}
spec:
  selector: {app: solo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: nc-shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless, namespace: nc-shop}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: nc-shop}
spec:
  selector: {app: web}
  externalIPs: [198.18.0.200]
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: typo, namespace: nc-shop}
spec:
  selector: {app: wbe}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: wrongport, namespace: nc-shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: deaf, namespace: nc-shop}
spec:
  selector: {app: deaf}
  ports: [{name: http, port: 80, targetPort: http}]
`

var shopOnce sync.Once

// shop deploys the Services once per run; the lab cluster is torn down
// after the suite, so they are not deleted one by one.
func shop(t *testing.T) {
	t.Helper()
	lab(t)
	shopOnce.Do(func() {
		f := filepath.Join(t.TempDir(), "shop.yaml")
		if err := os.WriteFile(f, []byte(shopYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl(t, "apply", "-f", f)
		for _, d := range []string{"web", "deaf", "solo"} {
			kubectl(t, "-n", "nc-shop", "rollout", "status", "deployment/"+d, "--timeout=120s")
		}
		readyEndpoints(t, "nc-shop", "web", 3)
	})
}

// readyEndpoints waits until the Service's EndpointSlices list n ready
// endpoints, then for every node's kube-proxy to follow: a test that breaks
// kube-proxy next must not freeze rules written before the endpoints came.
func readyEndpoints(t *testing.T, ns, svc string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(kubectl(t, "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name="+svc, "-o", "jsonpath={.items[*].endpoints[*].conditions.ready}"), "true") < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s's EndpointSlices never listed %d ready endpoints", ns, svc, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // kube-proxy's minSyncPeriod is 1 s
}

// noCoreDNS scales CoreDNS to zero for the test and back after it, waiting
// until the kube-dns Service has its endpoint again on every node.
func noCoreDNS(t *testing.T) {
	t.Helper()
	kubectl(t, "-n", "kube-system", "scale", "deployment", "coredns", "--replicas=0")
	t.Cleanup(func() {
		kubectl(t, "-n", "kube-system", "scale", "deployment", "coredns", "--replicas=1")
		kubectl(t, "-n", "kube-system", "rollout", "status", "deployment", "coredns", "--timeout=120s")
		readyEndpoints(t, "kube-system", "kube-dns", 1)
	})
	kubectl(t, "-n", "kube-system", "wait", "--for=delete", "pod", "-l", "k8s-app=kube-dns", "--timeout=60s")
}

func svcCheck(t *testing.T, name string, args ...string) result {
	t.Helper()
	return netcheck(t, 2*time.Minute, append([]string{"service", name, "-n", "nc-shop", "-o", "json"}, args...)...)
}

// only asserts the run found exactly these causes, on these nodes ("" = cluster-wide).
func only(t *testing.T, r result, want map[diagnose.Cause]string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (problems found)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if len(r.report.Findings) != len(want) {
		t.Fatalf("findings %+v, want causes %v", r.report.Findings, want)
	}
	for c, nodes := range want {
		f := finding(t, r, c)
		if strings.Join(f.Nodes, ",") != nodes {
			t.Errorf("%s on %v, want on %q", c, f.Nodes, nodes)
		}
	}
}

func TestServiceHealthy(t *testing.T) {
	shop(t)
	r := svcCheck(t, "web")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		kp := n.Facts.KubeProxy
		if kp == nil || kp.Mode != proxyMode() || len(kp.Services) == 0 || kp.Services[0].Endpoints != 3 {
			t.Errorf("%s: kube-proxy facts %+v", n.Name, kp)
		}
	}
	noProbePodsLeft(t)
}

func TestServiceSelectorTypo(t *testing.T) {
	shop(t)
	r := svcCheck(t, "typo")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseSelectorNoPods: ""})
	f := finding(t, r, diagnose.CauseSelectorNoPods)
	mustContain(t, "fix", f.Fix, `kubectl -n nc-shop patch service typo -p '{"spec":{"selector":{"app":"web"}}}'`)
	if len(r.report.Nodes) != 0 {
		t.Errorf("no probe pod is needed for a Service without endpoints, got %d nodes probed", len(r.report.Nodes))
	}
	noProbePodsLeft(t)
}

func TestServiceTargetPortMismatch(t *testing.T) {
	shop(t)
	r := svcCheck(t, "wrongport")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseTargetPortMismatch: ""})
	f := finding(t, r, diagnose.CauseTargetPortMismatch)
	mustContain(t, "fix", f.Fix, `"value":8080`)
	if f.Severity != diagnose.Error {
		t.Errorf("refused on every node confirms the mismatch: severity %s", f.Severity)
	}
	noProbePodsLeft(t)
}

func TestServiceBackendNotListening(t *testing.T) {
	shop(t)
	r := svcCheck(t, "deaf")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseBackendNotListening: ""})
	noProbePodsLeft(t)
}

func TestServiceKubeProxyStopped(t *testing.T) {
	shop(t)
	fault(t, "nc-node1", "kube-proxy-stop")
	r := svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseKubeProxyDown: "nc-node1"})
	mustContain(t, "evidence", finding(t, r, diagnose.CauseKubeProxyDown).Evidence, "none of kube-proxy")
	noProbePodsLeft(t)
}

func TestServicePodCIDRRouteDeleted(t *testing.T) {
	shop(t)
	fault(t, "nc-node1", "route-del-podcidr:nc-node2")
	r := svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseMissingPodRoute: "nc-node1"})
	want := "ip route add 10.244.2.0/24 via 198.18.0.12"
	if profile() == "flannel" {
		want = "ip route add 10.42.2.0/24 via 10.42.2.0 dev flannel.1 onlink"
	}
	f := finding(t, r, diagnose.CauseMissingPodRoute)
	mustContain(t, "fix", f.Fix, want)
	onNode(t, "nc-node1", command(f.Fix[0])...)
	healthy(t, svcCheck(t, "web"))
	noProbePodsLeft(t)
}

func TestServiceCoreDNSScaledToZero(t *testing.T) {
	shop(t)
	noCoreDNS(t)
	r := svcCheck(t, "web")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseServiceDNS: "nc-node1,nc-node2,nc-node3"})
	mustContain(t, "fix", finding(t, r, diagnose.CauseServiceDNS).Fix, "kubectl netcheck dns")
	noProbePodsLeft(t)
}

func TestServiceNotFound(t *testing.T) {
	shop(t)
	r := netcheck(t, time.Minute, "service", "wbe", "-n", "nc-shop")
	if r.code != 2 || !strings.Contains(r.stderr, `did you mean web?`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = netcheck(t, time.Minute, "service", "web", "-n", "nc-nosuch")
	if r.code != 2 || !strings.Contains(r.stderr, `namespace "nc-nosuch" not found`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	// Shell completion lists the namespace's Services from the cluster.
	r = netcheck(t, time.Minute, "__complete", "service", "-n", "nc-shop", "w")
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != "web web-headless wrongport :4" {
		t.Fatalf("completion: %q", r.stdout)
	}
	// kubectl's completion (k8s.io/kubectl/pkg/util/completion): nodes,
	// namespaces and --from's KIND/NAME too.
	for args, want := range map[string]string{
		"external --node nc-":                     "nc-node1 nc-node2 nc-node3 :4",
		"service -n nc-s":                         "nc-shop :4",
		"external -n nc-shop --from deployment/w": "deployment/web :4",
	} {
		r = netcheck(t, time.Minute, append([]string{"__complete"}, strings.Fields(args)...)...)
		if got := " " + strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(got, " "+want) {
			t.Errorf("completion of %q: %q, want it to end with %q", args, got, want)
		}
	}
}

// TestServiceHairpin: hairpin mode off on nc-node1's bridge ports; the one
// backend of solo, there, loses every connect to its own Service while
// another pod on the node reaches it. --hairpin names it.
func TestServiceHairpin(t *testing.T) {
	shop(t)
	fault(t, "nc-node1", "hairpin-off")
	r := svcCheck(t, "solo", "--hairpin")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseHairpin: "nc-node1"})
	f := finding(t, r, diagnose.CauseHairpin)
	mustContain(t, "evidence", f.Evidence, "0/8 connects ok")
	mustContain(t, "evidence", f.Evidence, "hairpin_mode is 0")
	mustContain(t, "notes", r.report.Notes, "in the pods' spec until they are replaced")
	noProbePodsLeft(t)
}

// TestServiceHairpinHealthy: with hairpin on, the same check passes.
func TestServiceHairpinHealthy(t *testing.T) {
	shop(t)
	r := svcCheck(t, "solo", "--hairpin")
	healthy(t, r)
	noProbePodsLeft(t)
}

// TestServiceExternalIP: the external IP is connected to from every node's
// pod and from the node itself, and each node's rules serve it.
func TestServiceExternalIP(t *testing.T) {
	shop(t)
	r := svcCheck(t, "edge")
	healthy(t, r)
	key := diagnose.SvcExternalKey("198.18.0.200", 80)
	for _, n := range r.report.Nodes {
		for side, checks := range map[string][]observe.Check{"pod": n.Pod.Checks, "node": n.Host.Checks} {
			ok := false
			for _, c := range checks {
				ok = ok || (c.ID == key && c.Outcome == observe.OK)
			}
			if !ok {
				t.Errorf("%s %s side: no successful connect to %s: %+v", n.Name, side, key, checks)
			}
		}
		found := false
		for _, sr := range n.Facts.KubeProxy.Services {
			found = found || (sr.VIP == "198.18.0.200:80/tcp" && sr.Programmed == observe.Yes && sr.Endpoints == 3)
		}
		if !found {
			t.Errorf("%s: external IP rules %+v", n.Name, n.Facts.KubeProxy.Services)
		}
	}
	noProbePodsLeft(t)
}

// TestServiceExternalIPRuleDeleted: kube-proxy's rule for the external IP
// removed on nc-node2 only: its pods and the node itself lose the address
// while the ClusterIP works; the verdict quotes the missing rule.
func TestServiceExternalIPRuleDeleted(t *testing.T) {
	shop(t)
	del := "proxy-rule-del:198.18.0.200"
	if proxyMode() == "nftables" {
		del = "proxy-map-del:198.18.0.200"
	}
	fault(t, "nc-node2", del)
	r := svcCheck(t, "edge")
	only(t, r, map[diagnose.Cause]string{diagnose.CauseExternalIP: "nc-node2"})
	mustContain(t, "evidence", finding(t, r, diagnose.CauseExternalIP).Evidence, "no rule for 198.18.0.200:80/tcp")
	noProbePodsLeft(t)
}

// TestServiceHeadless: no ClusterIP to check; the name resolves to the pods.
func TestServiceHeadless(t *testing.T) {
	shop(t)
	r := svcCheck(t, "web-headless")
	healthy(t, r)
	fqdn := diagnose.ServiceFQDN("web-headless", "nc-shop", "cluster.local")
	for _, n := range r.report.Nodes {
		for _, c := range n.Pod.Checks {
			if strings.HasPrefix(c.Target, "cluster-ip ") {
				t.Errorf("%s: a headless Service got a ClusterIP check: %+v", n.Name, c)
			}
			if c.Target == fqdn && (c.Outcome != observe.OK || len(c.Resolved) != 3) {
				t.Errorf("%s: %s resolved to %v (%s), want the 3 pod IPs", n.Name, fqdn, c.Resolved, c.Outcome)
			}
		}
	}
	noProbePodsLeft(t)
}

// factsRead is what one node's fact read sent back: its size, and the
// tools' account of the rules left out on the node.
func factsRead(t *testing.T, n observe.Node) (bytes int, tools string) {
	t.Helper()
	// The node's fact reads: the static one (rules, routes, sysctls) and
	// the routes-only ones with the pod's address, which may end first.
	// The static read is the largest.
	bytes = -1
	for _, e := range n.Timeline {
		if e.What == "exec node netcheck-facts" {
			bytes = max(bytes, e.Bytes)
		}
	}
	if bytes < 0 {
		t.Fatalf("%s: no fact read in the timeline %+v", n.Name, n.Timeline)
	}
	return bytes, strings.Join(n.Facts.Tools, "; ")
}

// A cluster's other Services do not travel: kube-proxy's chains of
// Services not asked about are left out on the node, in both proxy modes.
func TestServiceFactsFilteredOnTheNode(t *testing.T) {
	shop(t)
	before := svcCheck(t, "web")
	healthy(t, before)
	const n = 60
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: bulk%d, namespace: nc-shop}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n", i)
	}
	base := map[string]int{}
	for _, nd := range before.report.Nodes {
		_, tools := factsRead(t, nd)
		base[nd.Name] = leftOutRules(tools)
	}
	applyYAML(t, b.String())
	// Each adds at least one rule left out on every node once kube-proxy
	// synced: iptables a KUBE-SVC chain and a KUBE-SEP per endpoint, nftables
	// up to v1.35 a service chain and endpoint chains, from v1.36 a service
	// chain whose one rule DNATs to the endpoints itself.
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := svcCheck(t, "web")
		synced := true
		for _, nd := range r.report.Nodes {
			_, tools := factsRead(t, nd)
			synced = synced && leftOutRules(tools) >= base[nd.Name]+n
		}
		if synced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-proxy did not program the %d Services in 90 s: %+v", n, r.report.Nodes[0].Facts.Tools)
		}
		time.Sleep(3 * time.Second)
	}
	after := svcCheck(t, "web")
	healthy(t, after)
	for i, nd := range after.report.Nodes {
		b0, _ := factsRead(t, before.report.Nodes[i])
		b1, tools := factsRead(t, nd)
		t.Logf("%s: %d bytes of facts before, %d with %d more Services; %s", nd.Name, b0, b1, n, tools)
		// Whole, a Service with 3 endpoints adds about 1.6 KB of iptables
		// rules or 3 KB of nft JSON per node; trimmed, nothing (iptables)
		// or its map and set elements, about 130 bytes (nftables mode).
		if per := (b1 - b0) / n; per > 400 {
			t.Errorf("%s: the facts grew by %d bytes per Service not asked about", nd.Name, per)
		}
		if !strings.Contains(tools, "left out ") {
			t.Errorf("%s: no account of what the node left out: %s", nd.Name, tools)
		}
	}
}

var leftOutRe = regexp.MustCompile(`left out (\d+) rules?`)

// leftOutRules adds up the filters' accounts of rules left out.
func leftOutRules(tools string) int {
	sum := 0
	for _, m := range leftOutRe.FindAllStringSubmatch(tools, -1) {
		n, _ := strconv.Atoi(m[1])
		sum += n
	}
	return sum
}
