package cmd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
)

// deploy/admission.yaml admits exactly the default image's digest and the
// longest deadline the flags allow: the manifest and the code move together.
func TestAdmissionPolicyMatchesTheProbes(t *testing.T) {
	b, err := os.ReadFile("../../deploy/admission.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policy := string(b)
	if want := "endsWith('@" + launch.Digest(launch.DefaultImage) + "')"; !strings.Contains(policy, want) {
		t.Errorf("deploy/admission.yaml does not pin the default image's digest: want %s", want)
	}
	o := ProbeOptions{StartTimeout: 10 * time.Minute, Timeout: 5 * time.Minute} // Validate's maxima
	longest := int64(o.lifetime().Seconds()) + 10                               // launch's deadline margin
	if !strings.Contains(policy, "activeDeadlineSeconds <= 1000") || longest > 1000 {
		t.Errorf("the longest probe pod lives %d s; the policy admits up to 1000", longest)
	}
	p := launch.NodeProbe(launch.PodOptions{Namespace: "netcheck", RunID: "abc123", Image: launch.DefaultImage, Lifetime: o.lifetime()}, "n1", 0)
	if cmd := p.Spec.Containers[0].Command; len(cmd) != 2 || cmd[0] != "sleep" || len(cmd[1]) > 4 {
		t.Errorf("the probe's command %q is not the `sleep N` the policy admits", cmd)
	}
}
