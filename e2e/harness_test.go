//go:build e2e

// Package e2e runs the real kubectl-netcheck binary against a real cluster.
// On the lab cluster (e2e/cluster, NETCHECK_E2E_LAB=1) it injects one real
// fault per scenario into one node's namespaces and asserts the verdict;
// against any other cluster (KUBECONFIG) it runs the fault-free scenarios.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

const probeSelector = "app.kubernetes.io/name=kubectl-netcheck"

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func kubeconfig() string {
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return k
	}
	return "/run/netcheck-e2e/kubeconfig"
}

func binary(t *testing.T) string {
	t.Helper()
	b := os.Getenv("NETCHECK_BIN")
	if b == "" {
		b = filepath.Join(repoRoot(), "bin", "kubectl-netcheck")
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("plugin binary %s not found: run `make build` first (%v)", b, err)
	}
	return b
}

func lab(t *testing.T) {
	t.Helper()
	if os.Getenv("NETCHECK_E2E_LAB") != "1" {
		t.Skip("needs the lab cluster's fault injection (NETCHECK_E2E_LAB=1, e2e/cluster/up.sh)")
	}
}

// proxyMode is the lab kube-proxy's mode (NETCHECK_E2E_PROXY_MODE of up.sh).
func proxyMode() string { return labSetting("proxy-mode", "iptables") }

// profile is the lab's network profile (NETCHECK_E2E_PROFILE of up.sh).
func profile() string { return labSetting("profile", "bridge") }

// podCIDR is a lab node's podCIDR on the running profile (nc-node2 →
// 10.244.2.0/24 on bridge, 10.42.2.0/24 on flannel).
func podCIDR(node string) string {
	p := "10.244"
	if profile() == "flannel" {
		p = "10.42"
	}
	return p + "." + strings.TrimPrefix(node, "nc-node") + ".0/24"
}

// labSetting reads what up.sh recorded of the running lab.
func labSetting(name, dflt string) string {
	state := os.Getenv("NETCHECK_E2E_STATE")
	if state == "" {
		state = "/run/netcheck-e2e"
	}
	if b, err := os.ReadFile(filepath.Join(state, name)); err == nil && len(b) > 1 {
		return strings.TrimSpace(string(b))
	}
	return dflt
}

// result is one plugin run.
type result struct {
	code   int
	stdout string
	stderr string
	report report.Result
	took   time.Duration
}

// netcheck runs the plugin; with -o json among args the report is parsed.
func netcheck(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("netcheck %v: %v\nstderr: %s", args, err, r.stderr)
	}
	if ctx.Err() != nil {
		t.Fatalf("netcheck %v did not finish within %s (a hang)\nstderr: %s", args, timeout, r.stderr)
	}
	for i, a := range args {
		if a == "-o" && i+1 < len(args) && args[i+1] == "json" {
			// Every run's object, exit 2's too, is what docs/output.schema.json says.
			if out.Len() > 0 {
				validateOutput(t, out.Bytes())
			}
			if r.code == 2 {
				continue
			}
			if err := json.Unmarshal(out.Bytes(), &r.report); err != nil {
				t.Fatalf("output is not the JSON report: %v\n%s", err, r.stdout)
			}
		}
	}
	t.Logf("netcheck %s → exit %d in %s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	return r
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// fault injects a fault on a lab node and restores it when the test ends.
func fault(t *testing.T, node, name string) {
	t.Helper()
	script := filepath.Join(repoRoot(), "e2e", "cluster", "fault.sh")
	run := func(action string) error {
		out, err := exec.Command("bash", script, node, name, action).CombinedOutput()
		if err != nil {
			return errors.New(strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("inject"); err != nil {
		t.Fatalf("inject %s on %s: %v", name, node, err)
	}
	t.Cleanup(func() {
		if err := run("restore"); err != nil {
			t.Errorf("restore %s on %s: %v", name, node, err)
		}
	})
}

// restoreFault restores a fault now, as the fix for it (fault's cleanup
// restores again: a restore of a healthy node changes nothing).
func restoreFault(t *testing.T, node, name string) {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(repoRoot(), "e2e", "cluster", "fault.sh"), node, name, "restore").CombinedOutput()
	if err != nil {
		t.Fatalf("restore %s on %s: %v\n%s", name, node, err, out)
	}
}

// runOnNode runs argv inside a lab node; for cleanups, where a failure is no test's.
func runOnNode(node string, argv ...string) error {
	return exec.Command("bash", append([]string{filepath.Join(repoRoot(), "e2e", "cluster", "exec-node.sh"), node}, argv...)...).Run()
}

// noProbePodsLeft fails unless every probe pod is gone within 10 s.
func noProbePodsLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := kubectl(t, "get", "pods", "-A", "-l", probeSelector, "-o", "name")
		if strings.TrimSpace(out) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe pods left behind:\n%s", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// startUntilProbePods starts the plugin and returns once its probe pods
// exist, for tests that interrupt or kill it mid-run.
func startUntilProbePods(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.TrimSpace(kubectl(t, "get", "pods", "-A", "-l", probeSelector, "-o", "name")) == "" {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("no probe pod appeared")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cmd
}

// tokenKubeconfig writes a kubeconfig that authenticates as a service
// account, with the account's namespace as the current one. A kubeconfig
// of its own: --token on top of the admin's would lose to its client certificate.
func tokenKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	token := strings.TrimSpace(kubectl(t, "-n", ns, "create", "token", sa))
	server := strings.TrimSpace(kubectl(t, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"))
	kc := filepath.Join(t.TempDir(), sa+".kubeconfig")
	kubectl(t, "config", "--kubeconfig", kc, "set-cluster", "lab", "--server", server, "--insecure-skip-tls-verify=true")
	kubectl(t, "config", "--kubeconfig", kc, "set-credentials", sa, "--token", token)
	kubectl(t, "config", "--kubeconfig", kc, "set-context", "lab", "--cluster", "lab", "--user", sa, "--namespace", ns)
	kubectl(t, "config", "--kubeconfig", kc, "use-context", "lab")
	return kc
}

// healthy asserts a run found nothing: exit 0 and no finding.
func healthy(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || len(r.report.Findings) != 0 {
		t.Fatalf("want a healthy run: exit %d findings %+v\n%s", r.code, r.report.Findings, r.stderr)
	}
}
