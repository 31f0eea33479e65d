//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCleanupSparesLookalikes: a pod that is not netcheck's but wears its
// app label, ended like an interrupted probe, in netcheck's own namespace,
// survives `cleanup` and the reaper of the next run; noProbePodsLeft would count it, so it is removed
// by name at the end.
func TestCleanupSparesLookalikes(t *testing.T) {
	lab(t)
	manifest := filepath.Join(t.TempDir(), "lookalike.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Namespace
metadata:
  name: netcheck
  labels: {pod-security.kubernetes.io/enforce: privileged, app.kubernetes.io/managed-by: kubectl-netcheck}
---
apiVersion: v1
kind: Pod
metadata:
  name: lookalike
  namespace: netcheck
  labels: {app.kubernetes.io/name: kubectl-netcheck, netcheck.io/run-id: abc123, netcheck.io/role: pod}
spec:
  restartPolicy: Never
  nodeName: nc-node1
  containers:
  - {name: c, image: busybox:1.36, imagePullPolicy: Never, command: ["true"]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", manifest)
	t.Cleanup(func() {
		_ = exec.Command("kubectl", "--kubeconfig", kubeconfig(), "-n", "netcheck", "delete", "pod", "lookalike", "--grace-period=0", "--ignore-not-found").Run()
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(kubectl(t, "-n", "netcheck", "get", "pod", "lookalike", "-o", "jsonpath={.status.phase}"), "Succeeded") {
		if time.Now().After(deadline) {
			t.Fatal("the lookalike pod did not end")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r := netcheck(t, time.Minute, "cleanup", "-A"); r.code != 0 || strings.Contains(r.stdout, "lookalike") {
		t.Fatalf("cleanup: exit %d\n%s", r.code, r.stdout)
	}
	healthy(t, netcheck(t, 2*time.Minute, "node", "-o", "json")) // its reaper runs first
	kubectl(t, "-n", "netcheck", "get", "pod", "lookalike")      // still there
}
