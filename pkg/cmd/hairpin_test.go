package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

type runExec struct{ podexec.Execer }

// TestServiceHairpinWithSizedClients runs `service --hairpin` the way the
// plugin does, with a REST config, so the run builds its own sized clients
// while the hairpin goroutine uses the options' ones. The fake clientset's
// locks order the two goroutines, so -race alone may not see a write to
// the options: the test also checks they are left as they were.
func TestServiceHairpinWithSizedClients(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		labNode("nc-node1", "10.244.1.0/24"),
		shopService(map[string]string{"app": "web"}, intstr.FromString("http")),
		webPod("web-a", "nc-node1", "10.244.1.9", true), webSlice(true))
	playAPIServer(cs)
	startKubelet(t, cs)
	ex := &fakeExec{t: t}
	built := 0
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewServiceOptions(streams)
	o.Client, o.Exec, o.Namespace, o.RunID, o.Progress = cs, ex, "shop", "test01", ptr.To(false)
	o.RESTConfig = &rest.Config{Host: "https://198.18.0.10:6443"}
	o.NewClients = func(*rest.Config) (kubernetes.Interface, podexec.Execer, error) {
		built++
		return cs, runExec{ex}, nil // the run's own exec, told apart from the options'
	}
	o.StartTimeout, o.Output, o.Name, o.svcNamespace, o.Hairpin = 10*time.Second, "json", "web", "shop", true
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	if code, _ := ExitCode(err); code == ExitError {
		t.Fatalf("exit %d: %v\n%s", code, err, errOut.String())
	}
	if built != 1 {
		t.Errorf("the run built %d sized clients, want 1", built)
	}
	if o.Client != cs || o.Exec != podexec.Execer(ex) {
		t.Errorf("the run changed the options' clients (other goroutines read them)")
	}
	web, err := cs.CoreV1().Pods("shop").Get(context.Background(), "web-a", metav1.GetOptions{})
	if err != nil || len(web.Spec.EphemeralContainers) != 1 || web.Spec.EphemeralContainers[0].Name != "netcheck-test01" {
		t.Errorf("web-a did not get the hairpin container: %v %+v", err, web.Spec.EphemeralContainers)
	}
	if !strings.Contains(out.String(), "--hairpin added the ephemeral container netcheck-test01 to web-a") {
		t.Errorf("the report does not say which pod was changed:\n%s", out.String())
	}
	if n := probePodsLeft(t, run{cs: cs}); n != 0 {
		t.Errorf("%d probe pods left", n)
	}
}
