package probe

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The in-pod wrapper, run by the machine's sh: a pod with no process on
// this node is exit 125 and says so, without running the check. (Finding
// a pod's process is proven on the lab: e2e's --from scenarios.)
func TestInPodNoProcess(t *testing.T) {
	argv := InPodArgv("00000000-0000-4000-8000-000000000000", []string{"echo", "ran"})
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != InPodExit {
		t.Fatalf("want exit %d, got %v: %s", InPodExit, err, out)
	}
	if s := string(out); !strings.Contains(s, "no process of pod 00000000-0000-4000-8000-000000000000 on this node") || strings.Contains(s, "ran") {
		t.Fatalf("output: %q", s)
	}
}
