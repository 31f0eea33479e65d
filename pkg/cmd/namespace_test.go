package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

func healthyExec(t *testing.T) *fakeExec {
	return &fakeExec{t: t, facts: testdata(t, "../probe/testdata/facts-script.node1.out")}
}

// The dedicated namespace is made on first use, privileged and marked ours.
func TestDedicatedNamespaceCreatedOnFirstUse(t *testing.T) {
	r := runExternalIn(t, healthyExec(t), context.Background(), nil, nil, "198.19.0.1")
	if r.code != ExitHealthy {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.stderr)
	}
	ns, err := r.cs.CoreV1().Namespaces().Get(context.Background(), "netcheck", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "app.kubernetes.io/managed-by": "kubectl-netcheck"}
	if d := cmp.Diff(want, ns.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	if !strings.Contains(r.stderr, "created namespace netcheck") || !strings.Contains(r.stderr, "kubectl delete namespace netcheck") {
		t.Errorf("stderr does not say it created the namespace: %q", r.stderr)
	}
}

// Not allowed to create it: the error gives the two commands an admin runs.
func TestDedicatedNamespaceForbidden(t *testing.T) {
	r := runExternalIn(t, healthyExec(t), context.Background(), nil, func(cs *fake.Clientset) {
		cs.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "netcheck", errors.New("no"))
		})
	}, "198.19.0.1")
	if r.code != ExitError {
		t.Fatalf("exit %d, want %d", r.code, ExitError)
	}
	for _, want := range []string{"kubectl create namespace netcheck", "kubectl label namespace netcheck pod-security.kubernetes.io/enforce=privileged"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, r.err)
		}
	}
	if n := probePodsLeft(t, r); n != 0 {
		t.Fatalf("%d pods created", n)
	}
}

// Elsewhere the node probe is not placed without the flag: the pod side
// runs alone and the note says why; with the flag both run there.
func TestPrivilegedProbeOnlyInDedicatedNamespace(t *testing.T) {
	shop := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}}
	nodeProbes := func(cs *fake.Clientset) int {
		n := 0
		for _, a := range cs.Actions() {
			if c, ok := a.(k8stesting.CreateActionImpl); ok && len(c.CreateOptions.DryRun) == 0 {
				if p, ok := c.GetObject().(*corev1.Pod); ok && p.Labels[launch.LabelRole] == string(launch.RoleNode) {
					n++
				}
			}
		}
		return n
	}
	r := runExternalIn(t, healthyExec(t), context.Background(), shop, nil, "198.19.0.1", "--probe-namespace", "shop", "-o", "table")
	if r.code != ExitHealthy || nodeProbes(r.cs) != 0 {
		t.Fatalf("exit %d (%v), %d node probes created in shop", r.code, r.err, nodeProbes(r.cs))
	}
	for _, want := range []string{"NOT RUN", `runs only in the dedicated namespace "netcheck"`, "--allow-privileged-in-namespace"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runExternalIn(t, healthyExec(t), context.Background(), shop, nil, "198.19.0.1", "--probe-namespace", "shop", "--allow-privileged-in-namespace", "true")
	if r.code != ExitHealthy || nodeProbes(r.cs) != 2 {
		t.Fatalf("with the flag: exit %d (%v), %d node probes", r.code, r.err, nodeProbes(r.cs))
	}
}

// The default image is pinned; an unpinned one is warned about, a
// malformed one refused before anything is created.
func TestImagePinning(t *testing.T) {
	r := runExternal(t, healthyExec(t), context.Background(), nil, "198.19.0.1")
	if r.code != ExitHealthy || strings.Contains(r.stderr, "not pinned") {
		t.Fatalf("default image: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runExternal(t, healthyExec(t), context.Background(), nil, "198.19.0.1", "--image", "busybox:1.36")
	if r.code != ExitHealthy || !strings.Contains(r.stderr, "warning: --image busybox:1.36 is not pinned by digest") {
		t.Fatalf("unpinned image: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runExternal(t, healthyExec(t), context.Background(), nil, "198.19.0.1", "--image", "busybox:1.36 --privileged")
	if r.code != ExitError || !strings.Contains(r.err.Error(), "not an image reference") || probePodsLeft(t, r) != 0 {
		t.Fatalf("malformed image: exit %d, %v", r.code, r.err)
	}
}

// A namespace that enforces "restricted": the pod probe runs in the shape
// it admits (with the ping_group_range sysctl), pings through netcheck-ping,
// the path-MTU probe is reported not run, TCP decides too.
func TestRestrictedNamespaceRunsTCP(t *testing.T) {
	restricted := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "locked"}}}
	r := runExternalIn(t, healthyExec(t), context.Background(), restricted, func(cs *fake.Clientset) {
		cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
			if sc := p.Spec.Containers[0].SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, p.Name,
					errors.New(`violates PodSecurity "restricted:latest": unrestricted capabilities (container "probe" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true`))
			}
			if p.Spec.SecurityContext == nil || len(p.Spec.SecurityContext.Sysctls) != 1 || p.Spec.SecurityContext.Sysctls[0].Name != "net.ipv4.ping_group_range" {
				t.Errorf("restricted pod probe without the ping_group_range sysctl: %+v", p.Spec.SecurityContext)
			}
			return false, nil, nil
		})
	}, "198.19.0.1", "--port", "80", "--probe-namespace", "locked", "--allow-privileged-in-namespace", "true", "-o", "json")
	if r.code != ExitHealthy {
		t.Fatalf("TCP reaches the target: exit %d: %v\n%s", r.code, r.err, r.stderr)
	}
	var res report.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	kinds := map[observe.Outcome][]observe.CheckKind{}
	for _, c := range res.Nodes[0].Pod.Checks {
		kinds[c.Outcome] = append(kinds[c.Outcome], c.Kind)
	}
	if d := cmp.Diff(map[observe.Outcome][]observe.CheckKind{observe.OK: {observe.Ping, observe.TCP}, observe.NotRun: {observe.MTUProbe}}, kinds); d != "" {
		t.Errorf("pod-side outcomes (-want +got):\n%s", d)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "restricted shape") {
		t.Errorf("notes %q", res.Notes)
	}
	// An image without netcheck-ping: ping says so, TCP still decides.
	plainBusybox := healthyExec(t)
	plainBusybox.noNetcheckPing = true
	r = runExternalIn(t, plainBusybox, context.Background(), restricted, func(cs *fake.Clientset) {
		cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
			if sc := p.Spec.Containers[0].SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, p.Name, errors.New(`violates PodSecurity "restricted:latest"`))
			}
			return false, nil, nil
		})
	}, "198.19.0.1", "--port", "80", "--probe-namespace", "locked", "--allow-privileged-in-namespace", "true", "-o", "table")
	if r.code != ExitHealthy || !strings.Contains(r.stdout, "has no netcheck-ping") {
		t.Fatalf("restricted, an image without netcheck-ping: exit %d\n%s", r.code, r.stdout)
	}
}
