package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
)

func TestCleanup(t *testing.T) {
	opts := func(ns, run string) launch.PodOptions {
		return launch.PodOptions{Namespace: ns, RunID: run, Image: "busybox:1.36", Lifetime: time.Minute}
	}
	cs := fake.NewClientset(
		launch.PodProbe(opts("a", "run111"), "n1", 0), launch.NodeProbe(opts("a", "run111"), "n1", 0),
		launch.PodProbe(opts("b", "run222"), "n2", 0))
	// A pod that is not ours must survive any cleanup.
	other := launch.PodProbe(opts("a", "x"), "n1", 9)
	other.Name, other.Labels = "user-pod", map[string]string{"app": "web"}
	if _, err := cs.CoreV1().Pods("a").Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Nor one that wears netcheck's labels without being netcheck's: a
	// foreign pod labelled like ours, and one with every label but our name.
	foreign := launch.PodProbe(opts("a", "x"), "n1", 9)
	foreign.Name, foreign.Labels = "lookalike", map[string]string{launch.LabelApp: launch.AppName}
	renamed := launch.PodProbe(opts("a", "run111"), "n1", 7)
	renamed.Name = "database-0"
	for _, p := range []*corev1.Pod{foreign, renamed} {
		if _, err := cs.CoreV1().Pods("a").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		l, _ := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
		return len(l.Items)
	}
	run := func(o *CleanupOptions) string {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		o.IOStreams, o.Client = streams, cs
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if out := run(&CleanupOptions{Namespace: "", DryRun: true}); strings.Count(out, "would delete") != 3 || count() != 6 {
		t.Fatalf("dry run deleted or missed something: %q, %d pods", out, count())
	}
	if out := run(&CleanupOptions{Namespace: "", RunID: "run222"}); !strings.Contains(out, "deleted pod b/netcheck-pod-run222-0") || count() != 5 {
		t.Fatalf("--run-id: %q, %d pods", out, count())
	}
	if out := run(&CleanupOptions{Namespace: "a"}); strings.Count(out, "deleted pod a/") != 2 || count() != 3 {
		t.Fatalf("namespace a: %q, %d pods", out, count())
	}
	if out := run(&CleanupOptions{Namespace: ""}); out != "no probe pods found in any namespace\n" {
		t.Fatalf("nothing left: %q", out)
	}
}

// TestCleanupLooksWhereTheProbesAre: a bare `cleanup` looks in the probe
// namespace the probing commands use, not in the kubeconfig's namespace
// (where it used to find nothing); -n and --probe-namespace are honoured.
func TestCleanupLooksWhereTheProbesAre(t *testing.T) {
	ns := func(s string) *string { return &s }
	for _, c := range []struct {
		name string
		o    CleanupOptions
		want string
	}{
		{"bare", CleanupOptions{ConfigFlags: genericclioptions.NewConfigFlags(false)}, launch.DefaultNamespace},
		{"-n", CleanupOptions{ConfigFlags: &genericclioptions.ConfigFlags{Namespace: ns("team-a")}}, "team-a"},
		{"--probe-namespace", CleanupOptions{ConfigFlags: &genericclioptions.ConfigFlags{Namespace: ns("team-a")}, ProbeNamespace: "probes"}, "probes"},
		{"-A", CleanupOptions{ConfigFlags: &genericclioptions.ConfigFlags{Namespace: ns("team-a")}, AllNamespaces: true}, ""},
	} {
		if got := c.o.namespace(); got != c.want {
			t.Errorf("%s: namespace %q, want %q", c.name, got, c.want)
		}
	}
	o := CleanupOptions{ProbeNamespace: "Not_A_Namespace"}
	if err := o.Complete(); err == nil || !strings.Contains(err.Error(), `--probe-namespace "Not_A_Namespace"`) {
		t.Errorf("bad --probe-namespace: %v", err)
	}
}
