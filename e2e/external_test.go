//go:build e2e

package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// The lab's external subnet: 198.19.0.1 answers ping and HTTP on :80.
const extCIDR = "198.19.0.0/24"

func externalTarget() string {
	if t := os.Getenv("NETCHECK_E2E_EXTERNAL"); t != "" {
		return t
	}
	return extCIDR
}

func finding(t *testing.T, r result, cause diagnose.Cause) diagnose.Finding {
	t.Helper()
	for _, f := range r.report.Findings {
		if f.Cause == cause {
			return f
		}
	}
	t.Fatalf("no %s finding; got %+v\nstdout:\n%s", cause, r.report.Findings, r.stdout)
	return diagnose.Finding{}
}

func mustContain(t *testing.T, what string, list []string, want string) {
	t.Helper()
	if !strings.Contains(strings.Join(list, "\n"), want) {
		t.Errorf("%s does not contain %q:\n  %s", what, want, strings.Join(list, "\n  "))
	}
}

func TestExternalHealthy(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "external", externalTarget(), "--port", "80", "-o", "json")
	if r.code != 0 {
		t.Fatalf("healthy cluster: exit %d, findings %+v\n%s", r.code, r.report.Findings, r.stderr)
	}
	if !r.report.Healthy || len(r.report.Findings) != 0 {
		t.Fatalf("healthy cluster: findings %+v", r.report.Findings)
	}
	if len(r.report.Nodes) < 1 {
		t.Fatalf("no node probed")
	}
	for _, n := range r.report.Nodes {
		if len(n.Pod.Checks) == 0 || len(n.Host.Checks) == 0 || len(n.Facts.Targets) == 0 {
			t.Errorf("node %s: missing checks or facts: %+v", n.Name, n)
		}
	}
	noProbePodsLeft(t)
}

// TestExternalFaults injects each fault of the external diagnosis model
// into one node and asserts cause, node and fix.
func TestExternalFaults(t *testing.T) {
	lab(t)
	tests := []struct {
		node, fault string
		cause       diagnose.Cause
		fix         string
		evidence    string
	}{
		{"nc-node1", "masquerade-del", diagnose.CauseMissingNAT,
			"iptables -t nat -A POSTROUTING -s 10.244.1.0/24 -d 198.19.0.0/24 -o eth0 -j MASQUERADE", "(no SNAT)"},
		{"nc-node2", "ext-route-del", diagnose.CauseMissingRoute,
			"ip route add 198.19.0.0/24 via 198.18.0.100 dev eth0", "the default route"},
		{"nc-node3", "forward-drop", diagnose.CauseForwardDrop,
			"iptables -I FORWARD -s 10.244.3.0/24 -j ACCEPT", "filter FORWARD: policy DROP"},
		{"nc-node1", "ip-forward-off", diagnose.CauseIPForwardOff,
			"sysctl -w net.ipv4.ip_forward=1", "net.ipv4.ip_forward = 0"},
	}
	for _, tt := range tests {
		t.Run(tt.fault+"@"+tt.node, func(t *testing.T) {
			func() {
				fault(t, tt.node, tt.fault)
				r := netcheck(t, 2*time.Minute, "external", extCIDR, "--port", "80", "-o", "json")
				if r.code != 1 {
					t.Fatalf("exit %d, want 1 (problems found)\n%s\n%s", r.code, r.stdout, r.stderr)
				}
				f := finding(t, r, tt.cause)
				if strings.Join(f.Nodes, ",") != tt.node {
					t.Errorf("%s blamed %v, want only %s", tt.cause, f.Nodes, tt.node)
				}
				if len(r.report.Findings) != 1 {
					t.Errorf("want exactly one finding, got %+v", r.report.Findings)
				}
				mustContain(t, "fix", f.Fix, tt.fix)
				mustContain(t, "evidence", f.Evidence, tt.evidence)
				noProbePodsLeft(t)
			}()
		})
		// The restore ran in the subtest's cleanup: the node must be healthy again.
		t.Run("restored-"+tt.node, func(t *testing.T) {
			r := netcheck(t, 2*time.Minute, "external", extCIDR, "--node", tt.node, "-o", "json")
			if r.code != 0 {
				t.Fatalf("after restoring %s, %s is not healthy: %+v", tt.fault, tt.node, r.report.Findings)
			}
		})
	}
}

// TestExternalTable checks the human output on a faulty node: the per-node
// table and a finding with evidence and fix.
func TestExternalTable(t *testing.T) {
	lab(t)
	fault(t, "nc-node2", "masquerade-del")
	r := netcheck(t, 2*time.Minute, "external", extCIDR)
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"NODE", "FROM", "PING", "ROUTE", "RESULT", "nc-node2  pod", "FAIL", "ERROR missing-nat on nc-node2", "evidence:", "fix:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table output lacks %q:\n%s", want, r.stdout)
		}
	}
	t.Logf("faulty run as printed:\n%s", r.stdout)
	noProbePodsLeft(t)
}

func TestExternalUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"external", "a;reboot"}, "not a valid"},
		{[]string{"external"}, "no target given"},
		{[]string{"external", "198.19.0.1", "--node", "no-such-node"}, "node(s) not found: no-such-node"},
		{[]string{"external", "198.19.0.1", "--probe-namespace", "no-such-ns"}, `namespace "no-such-ns" not found`},
		{[]string{"external", "198.19.0.1", "-o", "xml"}, "use table, wide, json, yaml"},
		{[]string{"external", "198.19.0.1", "--kubeconfig", "/nonexistent"}, "kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := netcheck(t, 30*time.Second, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Fatalf("stack trace on bad input:\n%s", r.stderr)
			}
		})
	}
	noProbePodsLeft(t)
}

// TestExternalImagePullFailsFast: an image no node can pull is named, with
// the node, in seconds — not after the start timeout. The registry is on
// the node's own loopback, so nothing leaves the lab.
func TestExternalImagePullFailsFast(t *testing.T) {
	lab(t)
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--image", "127.0.0.1:1/netcheck/nope:1", "--node", "nc-node1")
	if r.code != 2 || !strings.Contains(r.stderr, "127.0.0.1:1/netcheck/nope:1") || !strings.Contains(r.stderr, "nc-node1") {
		t.Fatalf("exit %d stderr %q: want exit 2 naming image and node", r.code, r.stderr)
	}
	if r.took > 15*time.Second {
		t.Errorf("took %s: an unpullable image must fail within 15 s", r.took)
	}
	noProbePodsLeft(t)
}

// TestExternalPodSecurityBaseline: a namespace that enforces baseline
// refuses the privileged node probe; the pod side runs alone, the report
// says so, and the exit code follows the findings.
func TestExternalPodSecurityBaseline(t *testing.T) {
	ns := "netcheck-e2e-baseline"
	kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() { kubectl(t, "delete", "namespace", ns, "--wait=false") })
	kubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline")
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--probe-namespace", ns, "--allow-privileged-in-namespace")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (pods reach the target)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"NOT RUN", "refuses the privileged node probe", "pod-security.kubernetes.io/enforce=privileged"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	noProbePodsLeft(t)
}

// TestExternalRBACMissingExec: a user who may create pods but not exec into
// them gets one message naming what is missing, before anything is created.
func TestExternalRBACMissingExec(t *testing.T) {
	ns := "netcheck-e2e-rbac"
	kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() {
		kubectl(t, "delete", "namespace", ns, "--wait=false")
		kubectl(t, "delete", "clusterrolebinding", "netcheck-e2e-nodes", "--ignore-not-found")
		kubectl(t, "delete", "clusterrole", "netcheck-e2e-nodes", "--ignore-not-found")
	})
	kubectl(t, "-n", ns, "create", "serviceaccount", "limited")
	kubectl(t, "-n", ns, "create", "role", "pods-no-exec", "--verb=create,delete,get,list,watch", "--resource=pods")
	kubectl(t, "-n", ns, "create", "rolebinding", "limited", "--role=pods-no-exec", "--serviceaccount="+ns+":limited")
	kubectl(t, "create", "clusterrole", "netcheck-e2e-nodes", "--verb=get,list,watch", "--resource=nodes,namespaces")
	kubectl(t, "create", "clusterrolebinding", "netcheck-e2e-nodes", "--clusterrole=netcheck-e2e-nodes", "--serviceaccount="+ns+":limited")
	kc := tokenKubeconfig(t, ns, "limited")
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--kubeconfig", kc, "--probe-namespace", ns)
	if r.code != 2 || !strings.Contains(r.stderr, "create pods/exec") || strings.Contains(r.stderr, "delete pods") {
		t.Fatalf("exit %d stderr %q: want exit 2 naming only the missing pods/exec", r.code, r.stderr)
	}
	if out := kubectl(t, "-n", ns, "get", "pods", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("pods were created without the permission to use them: %s", out)
	}
}

// TestExternalInterrupt: Ctrl-C mid-run removes every probe pod.
func TestExternalInterrupt(t *testing.T) {
	// Interrupt once the probe pods exist.
	cmd := startUntilProbePods(t, "external", "198.19.0.1", "--timeout", "20s")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("interrupted run: %v, want exit 2", err)
	}
	noProbePodsLeft(t)
}

// TestExternalReaderGone: the reader of the plugin's stderr goes away mid-run
// (`kubectl netcheck external ... -v=2 2>&1 | head`). The next log line is a
// SIGPIPE, which used to kill the plugin with its six pods running; it now
// ends the run like a Ctrl-C and removes them.
func TestExternalReaderGone(t *testing.T) {
	lab(t)
	cmd := exec.Command(binary(t), "external", "198.19.0.1", "-v=2")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Read until the probe pods exist, then stop reading, as head does.
	sc := bufio.NewScanner(r)
	for sc.Scan() && !strings.Contains(sc.Text(), "probe created") {
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if ok && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			t.Fatalf("the plugin was killed by %v", ee.ProcessState.Sys().(syscall.WaitStatus).Signal())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the plugin did not end within 2 min of its reader going away")
	}
	noProbePodsLeft(t)
}

// TestExternalKilled: kill -9 leaves the pods to the server-side backstop:
// activeDeadlineSeconds stops them; the next run (or `cleanup`) removes
// the ended pods' objects.
func TestExternalKilled(t *testing.T) {
	lab(t)
	cmd := startUntilProbePods(t, "external", "198.19.0.1", "--start-timeout", "5s", "--timeout", "1s")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// start 5 s + probe 11 s + facts 20 s + 10 s margin, +10 s deadline margin: 56 s.
	end := time.Now().Add(90 * time.Second)
	for {
		out := kubectl(t, "get", "pods", "-A", "-l", probeSelector, "-o", "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}")
		if !strings.Contains(out, "Running") && !strings.Contains(out, "Pending") {
			t.Logf("after kill -9 the probe pods ended server-side: %q", strings.Fields(out))
			break
		}
		if time.Now().After(end) {
			t.Fatalf("probe pods still running 90 s after kill -9: %q", out)
		}
		time.Sleep(2 * time.Second)
	}
	// A bare cleanup looks in the probe namespace, where the pods are
	// (it used to look in the kubeconfig's namespace and find nothing).
	r := netcheck(t, time.Minute, "cleanup")
	if r.code != 0 || !strings.Contains(r.stdout, "deleted pod netcheck/") {
		t.Fatalf("cleanup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	noProbePodsLeft(t)
}

// TestExternalNameNowhere: a name no resolver knows is named as such, from
// every node — not blamed on the pod network. The lab's DNS answers
// NXDOMAIN for non-cluster names, so nothing leaves the lab.
func TestExternalNameNowhere(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "external", "nope.corp.example:5432", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	f := finding(t, r, diagnose.CauseNameUnresolved)
	if len(f.Nodes) != len(r.report.Nodes) {
		t.Errorf("nodes %v, want all %d", f.Nodes, len(r.report.Nodes))
	}
	mustContain(t, "evidence", f.Evidence, "NXDOMAIN")
	noProbePodsLeft(t)
}

func TestExternalYAML(t *testing.T) {
	r := netcheck(t, 2*time.Minute, "external", "198.19.0.1", "--node", "nc-node1", "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "apiVersion: netcheck.io/v1alpha1") || !strings.Contains(r.stdout, "kind: ExternalCheck") {
		t.Fatalf("exit %d, yaml:\n%s", r.code, r.stdout)
	}
}
