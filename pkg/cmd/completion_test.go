package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
)

func runNetcheck(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := NewCmdNetcheck(streams)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestCompletionBash(t *testing.T) {
	out, _, err := runNetcheck(t, "completion", "bash")
	if err != nil {
		t.Fatalf("completion bash: %v", err)
	}
	for _, want := range []string{
		"# bash completion V2 for kubectl-netcheck",
		"__complete",
		"complete -o default -F __start_kubectl-netcheck kubectl-netcheck",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bash completion script lacks %q; got:\n%.400s", want, out)
		}
	}
}

func TestCompletionOtherShells(t *testing.T) {
	for shell, want := range map[string]string{
		"zsh":        "#compdef kubectl-netcheck",
		"fish":       "complete -c kubectl-netcheck",
		"powershell": "Register-ArgumentCompleter",
	} {
		out, _, err := runNetcheck(t, "completion", shell)
		if err != nil {
			t.Errorf("completion %s: %v", shell, err)
			continue
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s completion script lacks %q", shell, want)
		}
	}
}

func TestCompletionRejectsUnknownShell(t *testing.T) {
	out, _, err := runNetcheck(t, "completion", "tcsh")
	if err == nil {
		t.Fatalf("completion tcsh: want an error, got script:\n%.200s", out)
	}
	if code, _ := ExitCode(err); code != ExitError {
		t.Errorf("exit code %d, want %d", code, ExitError)
	}
}

// The root's name is borrowed while generating; help must still say
// "kubectl netcheck" afterwards.
func TestCompletionKeepsRootName(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	root := NewCmdNetcheck(streams)
	root.SetArgs([]string{"completion", "bash"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if root.Name() != "netcheck" {
		t.Errorf("root name after completion = %q, want netcheck", root.Name())
	}
}

func TestCompleteNamesFromTheCluster(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: "shop"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "wiki", Namespace: "other"}},
		labNode("nc-node1", "10.244.1.0/24"), labNode("nc-node2", "10.244.2.0/24"))
	o := &ProbeOptions{Client: cs, Namespace: "shop"}
	got, dir := firstArg(o.completeWith(listServices))(nil, nil, "w")
	if strings.Join(got, ",") != "web,worker" || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Fatalf("services: %v %v", got, dir)
	}
	if got, _ := firstArg(o.completeWith(listServices))(nil, []string{"web"}, ""); len(got) != 0 {
		t.Fatalf("only one Service name is taken: %v", got)
	}
	if got, _ := o.completeWith(listNodes)(nil, nil, "nc-"); strings.Join(got, ",") != "nc-node1,nc-node2" {
		t.Fatalf("nodes: %v", got)
	}
}
