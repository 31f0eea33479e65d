package launch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

var opts = PodOptions{Namespace: "ns1", RunID: "abc123", Image: "busybox:1.36", Lifetime: 100 * time.Second, CreatedBy: "kubectl-netcheck test"}

func TestPodProbeSpec(t *testing.T) {
	want := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "netcheck-pod-abc123-0", Namespace: "ns1",
			Labels: map[string]string{LabelApp: AppName, LabelManaged: AppName, LabelRunID: "abc123", LabelRole: "pod"},
			Annotations: map[string]string{AnnCreatedBy: "kubectl-netcheck test", "netcheck.io/node": "n1",
				"netcheck.io/purpose": "short-lived network probe; deleted when the run ends; safe to delete"},
		},
		Spec: corev1.PodSpec{
			NodeName:                      "n1",
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			ActiveDeadlineSeconds:         ptr.To(int64(110)),
			TerminationGracePeriodSeconds: ptr.To(Grace),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: Container, Image: "busybox:1.36", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "100"},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
						"MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}}},
			}},
		},
	}
	if d := cmp.Diff(want, PodProbe(opts, "n1", 0)); d != "" {
		t.Fatalf("pod probe (-want +got):\n%s", d)
	}
}

func TestNodeProbeSpec(t *testing.T) {
	o := opts
	o.NodeImage = "registry.local/busybox:1.36"
	p := NodeProbe(o, "n2", 3)
	if p.Name != "netcheck-node-abc123-3" || p.Spec.NodeName != "n2" {
		t.Fatalf("name/node: %s %s", p.Name, p.Spec.NodeName)
	}
	if !p.Spec.HostNetwork || !p.Spec.HostPID || p.Spec.DNSPolicy != corev1.DNSDefault {
		t.Errorf("node probe must share the node's network and PID namespaces and resolver: %+v", p.Spec)
	}
	c := p.Spec.Containers[0]
	if c.Image != "registry.local/busybox:1.36" || !*c.SecurityContext.Privileged || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("container: %+v", c)
	}
	if *p.Spec.ActiveDeadlineSeconds != 110 || *p.Spec.AutomountServiceAccountToken {
		t.Errorf("backstop/token: %v %v", *p.Spec.ActiveDeadlineSeconds, *p.Spec.AutomountServiceAccountToken)
	}
	if len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("node probe must tolerate every taint: %+v", p.Spec.Tolerations)
	}
}

// TestNoProbeHoldsAToken: neither probe gets a service-account token, so
// nothing in a probe pod can act on the API server (`api --service-account`
// asks from the plugin).
func TestNoProbeHoldsAToken(t *testing.T) {
	for _, p := range []*corev1.Pod{PodProbe(opts, "n1", 0), NodeProbe(opts, "n1", 0)} {
		if p.Spec.ServiceAccountName != "" || *p.Spec.AutomountServiceAccountToken {
			t.Errorf("%s: account %q, automount %v", p.Name, p.Spec.ServiceAccountName, *p.Spec.AutomountServiceAccountToken)
		}
	}
}

// kubelet plays the node's part on the fake clientset: it answers each new
// pod with the status produced by state.
func kubelet(t *testing.T, cs *fake.Clientset, state func(*corev1.Pod)) {
	w, err := cs.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != "ADDED" {
				continue
			}
			p = p.DeepCopy()
			state(p)
			_, _ = cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}
	}()
}

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.244.0.9"
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func TestWaitReadyByWatch(t *testing.T) {
	cs := fake.NewClientset()
	kubelet(t, cs, ready)
	l := &Launcher{Client: cs, Opts: opts}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	p := PodProbe(opts, "n1", 0)
	if err := l.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := l.WaitReady(ctx, p.Name)
	if err != nil || got.Status.PodIP != "10.244.0.9" {
		t.Fatalf("WaitReady = %v, %v", got, err)
	}
	n, err := l.Cleanup(context.Background(), 5*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("Cleanup = %d, %v", n, err)
	}
	left, _ := cs.CoreV1().Pods("ns1").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 0 {
		t.Fatalf("%d pods left after cleanup", len(left.Items))
	}
}

func TestFailFast(t *testing.T) {
	tests := []struct {
		name  string
		state func(*corev1.Pod)
		want  string
	}{
		{"image pull", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: Container, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pull access denied"}}}}
		}, `node n1 cannot pull image "busybox:1.36"`},
		{"back-off", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: Container, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
		}, "--image"},
		{"kubelet admission", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "OutOfmemory"
		}, "ended before it was used"},
		{"unschedulable", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes"}}
		}, "cannot be placed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			kubelet(t, cs, tt.state)
			l := &Launcher{Client: cs, Opts: opts}
			// Far longer than the test may take: failing fast is the point.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := l.Start(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			defer l.Stop()
			p := PodProbe(opts, "n1", 0)
			if err := l.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := l.WaitReady(ctx, p.Name)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s: must fail fast, not wait out the timeout", time.Since(start))
			}
		})
	}
}

func TestWaitTimeoutNamesTheState(t *testing.T) {
	cs := fake.NewClientset()
	kubelet(t, cs, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	})
	l := &Launcher{Client: cs, Opts: opts}
	if err := l.Start(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	p := PodProbe(opts, "n1", 0)
	if err := l.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := l.WaitReady(ctx, p.Name)
	if err == nil || !strings.Contains(err.Error(), "ContainerCreating") || !strings.Contains(err.Error(), "--start-timeout") {
		t.Fatalf("err = %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name  string
		err   error
		want  string
		fatal bool
	}{
		{"podsecurity", apierrors.NewForbidden(gr, "netcheck-node-x", errors.New(`violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`)),
			"pod-security.kubernetes.io/enforce=privileged", true},
		{"rbac", apierrors.NewForbidden(gr, "", errors.New(`User "dev" cannot create resource "pods"`)), "RBAC", true},
		{"namespace", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "nope"), "--probe-namespace", true},
		{"other", errors.New("connection reset"), "connection reset", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tt.err })
			l := &Launcher{Client: cs, Opts: opts}
			err := l.Create(context.Background(), NodeProbe(opts, "n1", 0))
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrFatal) != tt.fatal {
				t.Fatalf("err = %v (fatal=%v), want %q fatal=%v", err, errors.Is(err, ErrFatal), tt.want, tt.fatal)
			}
		})
	}
}

func TestCleanupFallsBackToSingleDeletes(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("delete-collection", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no deletecollection"))
	})
	l := &Launcher{Client: cs, Opts: opts}
	for i := 0; i < 3; i++ {
		if err := l.Create(context.Background(), PodProbe(opts, "n1", i)); err != nil {
			t.Fatal(err)
		}
	}
	// A pod of another run must survive.
	other := opts
	other.RunID = "zzz999"
	if _, err := cs.CoreV1().Pods("ns1").Create(context.Background(), PodProbe(other, "n1", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Cleanup(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	left, _ := cs.CoreV1().Pods("ns1").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 1 || left.Items[0].Labels[LabelRunID] != "zzz999" {
		t.Fatalf("left %d pods: %+v", len(left.Items), left.Items)
	}
}

func TestReapRemovesOnlyEndedProbePods(t *testing.T) {
	ended := PodProbe(opts, "n1", 0)
	ended.Status.Phase = corev1.PodFailed
	ended.Status.Reason = "DeadlineExceeded"
	running := NodeProbe(opts, "n1", 0)
	running.Status.Phase = corev1.PodRunning
	user := PodProbe(opts, "n1", 1)
	user.Labels = map[string]string{"app": "web"}
	user.Status.Phase = corev1.PodFailed
	// An ended pod of someone else's that wears all of netcheck's labels.
	lookalike := PodProbe(opts, "n1", 2)
	lookalike.Name = "batch-job-7"
	lookalike.Status.Phase = corev1.PodSucceeded
	// The last run's pod, deleted by it and ended while it goes: not
	// "of an interrupted run", and already on its way out.
	going := NodeProbe(opts, "n2", 3)
	going.Status.Phase = corev1.PodSucceeded
	going.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	going.Finalizers = []string{"test/keep"} // the fake would drop a deleted pod without one
	cs := fake.NewClientset(ended, running, user, lookalike, going)
	if n := Reap(context.Background(), cs, "ns1"); n != 1 {
		t.Fatalf("reaped %d, want 1", n)
	}
	left, _ := cs.CoreV1().Pods("ns1").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 4 {
		t.Fatalf("left %d pods, want the running probe, the user's pod, the lookalike and the one going", len(left.Items))
	}
}

// A watch the API server refuses fails the start at once, naming the
// permission, instead of retrying silently until the user gives up.
func TestStartForbiddenWatchFailsFast(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New(`User "ci" cannot list resource "pods"`))
	})
	l := &Launcher{Client: cs, Opts: opts}
	err := l.Start(context.Background(), 2*time.Second)
	defer l.Stop()
	if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "cannot watch pods") || !strings.Contains(err.Error(), `cannot list resource "pods"`) {
		t.Fatalf("err = %v", err)
	}
}

// The restricted shape passes PodSecurity "restricted" field by field.
func TestPodProbeRestricted(t *testing.T) {
	o := opts
	o.Restricted = true
	p := PodProbe(o, "n1", 0)
	want := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65534)), RunAsGroup: ptr.To(int64(65534)),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if d := cmp.Diff(want, p.Spec.Containers[0].SecurityContext); d != "" {
		t.Errorf("restricted pod probe (-want +got):\n%s", d)
	}
	base := PodProbe(opts, "n1", 0)
	base.Spec.Containers[0].SecurityContext = want
	// ping through an unprivileged ICMP socket: the pod's group admitted.
	base.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ping_group_range", Value: "65534 65534"}}}
	if d := cmp.Diff(base, p); d != "" {
		t.Errorf("only the security contexts differ (-want +got):\n%s", d)
	}
}

// TestCreatesInFlightAreBounded: 20 creates at once against a server that
// answers each after 20 ms never have more than MaxCreating in flight, and
// do run side by side up to it.
func TestCreatesInFlightAreBounded(t *testing.T) {
	var now, most atomic.Int32
	// The fake clientset runs its reactors under one lock: the server's
	// time is spent in a wrapper, outside it, as a real server's would be.
	slow := func() {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
	}
	l := &Launcher{Client: slowCreates{fake.NewClientset(), slow}, Opts: opts, MaxCreating: 3}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Create(context.Background(), PodProbe(opts, "n", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := most.Load(); m != 3 {
		t.Fatalf("most creates in flight = %d, want 3 (the bound, reached)", m)
	}
}

type slowCreates struct {
	kubernetes.Interface
	wait func()
}

func (s slowCreates) CoreV1() corev1client.CoreV1Interface {
	return slowCore{s.Interface.CoreV1(), s.wait}
}

type slowCore struct {
	corev1client.CoreV1Interface
	wait func()
}

func (c slowCore) Pods(ns string) corev1client.PodInterface {
	return slowPods{c.CoreV1Interface.Pods(ns), c.wait}
}

type slowPods struct {
	corev1client.PodInterface
	wait func()
}

func (p slowPods) Create(ctx context.Context, pod *corev1.Pod, o metav1.CreateOptions) (*corev1.Pod, error) {
	p.wait()
	return p.PodInterface.Create(ctx, pod, o)
}

// TestCreateWaitingForASlotHonoursTheContext: a create queued behind a full
// bound gives up when its context ends, without calling the server.
func TestCreateWaitingForASlotHonoursTheContext(t *testing.T) {
	cs := fake.NewClientset()
	l := &Launcher{Client: cs, Opts: opts, MaxCreating: 1}
	l.slotsOnce.Do(func() { l.creating = make(chan struct{}, 1) })
	l.creating <- struct{}{} // the one slot, taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := l.Create(ctx, PodProbe(opts, "n", 0))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if len(cs.Actions()) != 0 {
		t.Fatalf("the server was called: %v", cs.Actions())
	}
}
