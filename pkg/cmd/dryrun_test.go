package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
)

// --dry-run=client prints exactly the pods a run creates, as a v1 List,
// and creates nothing — not even the dedicated namespace.
func TestDryRunClient(t *testing.T) {
	r := runExternalIn(t, healthyExec(t), context.Background(), nil, nil, "198.19.0.1", "--dry-run", "client")
	if r.code != ExitHealthy || r.err == nil || r.err != errDryRun {
		t.Fatalf("exit %d err %v", r.code, r.err)
	}
	for _, a := range r.cs.Actions() {
		if a.GetVerb() == "create" || a.GetVerb() == "delete" {
			t.Errorf("a dry run called %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	var list struct {
		APIVersion string       `json:"apiVersion"`
		Kind       string       `json:"kind"`
		Items      []corev1.Pod `json:"items"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, r.stdout)
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 4 {
		t.Fatalf("list %s/%s with %d items:\n%s", list.APIVersion, list.Kind, len(list.Items), r.stdout)
	}
	o := ProbeOptions{Namespace: "netcheck", RunID: "test01", Image: launch.DefaultImage, StartTimeout: 10 * time.Second, Timeout: 3 * time.Second} // as runExternalIn
	po := o.podOptions()
	want := []corev1.Pod{*launch.PodProbe(po, "nc-node1", 0), *launch.NodeProbe(po, "nc-node1", 0), *launch.PodProbe(po, "nc-node2", 1), *launch.NodeProbe(po, "nc-node2", 1)}
	if d := cmp.Diff(want, list.Items); d != "" {
		t.Errorf("dry-run pods are not the run's (-want +got):\n%s", d)
	}
	if !strings.Contains(r.stderr, "nothing was") || !strings.Contains(r.stderr, "namespace netcheck does not exist yet") {
		t.Errorf("stderr %q", r.stderr)
	}
	// JSON with -o json.
	r = runExternalIn(t, healthyExec(t), context.Background(), nil, nil, "198.19.0.1", "--dry-run", "client", "-o", "json")
	var l2 corev1.List
	if err := json.Unmarshal([]byte(r.stdout), &l2); err != nil || len(l2.Items) != 4 {
		t.Fatalf("-o json: %v, %d items", err, len(l2.Items))
	}
}
