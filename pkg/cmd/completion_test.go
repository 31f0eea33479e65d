package cmd

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
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

// The kubeconfig flags complete as kubectl's do (its completion package):
// contexts and clusters from the file; names from a cluster that does not
// answer complete to nothing, never to an error.
func TestCompleteKubeconfigFlags(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: lab, cluster: {server: "https://127.0.0.1:1"}}
- {name: prod, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: alice, user: {token: x}}
contexts:
- {name: lab-admin, context: {cluster: lab, user: alice}}
- {name: prod-admin, context: {cluster: prod, user: alice}}
current-context: lab-admin
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "external", "--kubeconfig", kc, "--context", ""}, "lab-admin prod-admin :4"},
		{[]string{"__complete", "external", "--kubeconfig", kc, "--cluster", "p"}, "prod :4"},
		{[]string{"__complete", "external", "--kubeconfig", kc, "--user", ""}, "alice :4"},
		{[]string{"__complete", "service", "--kubeconfig", kc, "w"}, ":4"},
		{[]string{"__complete", "external", "--kubeconfig", kc, "--node", ""}, ":4"},
	} {
		out, _, err := runNetcheck(t, tt.args...)
		fields := strings.Fields(out)
		sort.Strings(fields[:max(len(fields)-1, 0)]) // the file's order is a map's; the directive stays last
		if got := strings.Join(fields, " "); err != nil || got != tt.want {
			t.Errorf("%v: %q (%v), want %q", tt.args[1:], got, err, tt.want)
		}
	}
}
