package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

func testdata(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func captured(t *testing.T, name string) podexec.Result {
	rc, _ := strconv.Atoi(strings.TrimSpace(testdata(t, "../probe/testdata/"+name+".rc")))
	return podexec.Result{Stdout: testdata(t, "../probe/testdata/"+name+".stdout"), Stderr: testdata(t, "../probe/testdata/"+name+".stderr"), ExitCode: rc}
}

// fakeExec answers the probes' commands with output captured from the real
// tools; podFails makes the pod side time out, as with a missing masquerade.
type fakeExec struct {
	t        *testing.T
	podFails bool
	facts    string
	block    bool // wait for cancellation: a run interrupted mid-probe
	calls    atomic.Int32
	inPod    atomic.Int32 // checks run in a workload's netns (--from)
	// noNetcheckPing: an image of plain busybox, without netcheck-ping.
	noNetcheckPing bool
}

func (f *fakeExec) Exec(ctx context.Context, _, pod, _ string, argv []string) podexec.Result {
	f.calls.Add(1)
	if f.block {
		<-ctx.Done()
		return podexec.Result{ExitCode: -1, Err: ctx.Err()}
	}
	podSide := strings.HasPrefix(pod, "netcheck-pod-")
	if len(argv) > 5 && argv[0] == "sh" && argv[3] == "netcheck-from" {
		// --from: the check runs in the workload pod's netns, from the node probe.
		if !strings.HasPrefix(pod, "netcheck-node-") {
			f.t.Errorf("in-pod check sent to %s, not the node probe", pod)
		}
		f.inPod.Add(1)
		podSide, argv = true, argv[5:]
	}
	switch argv[0] {
	case "ping":
		if podSide && f.podFails {
			return captured(f.t, "ping-timeout")
		}
		return captured(f.t, "ping-ok")
	case "netcheck-ping":
		if f.noNetcheckPing {
			return podexec.Result{ExitCode: 127, Stderr: "netcheck-ping: applet not found"}
		}
		if podSide && f.podFails {
			return captured(f.t, "netcheck-ping-timeout")
		}
		return captured(f.t, "netcheck-ping-ok")
	case "nc":
		if podSide && f.podFails {
			return captured(f.t, "tcp-timeout")
		}
		return captured(f.t, "tcp-ok")
	case "sh":
		if len(argv) > 3 && argv[3] == "netcheck-pmtu" {
			return captured(f.t, "pmtu-ok")
		}
		return podexec.Result{Stdout: f.facts}
	case "grep":
		if f.podFails {
			return podexec.Result{Stdout: "ipv4     2 icmp     1 29 src=10.244.1.25 dst=198.19.0.1 type=8 code=0 id=4 [UNREPLIED] src=198.19.0.1 dst=10.244.1.25 type=0 code=0 id=4 mark=0 zone=0 use=2\n"}
		}
		return podexec.Result{ExitCode: 1}
	}
	return podexec.Result{ExitCode: 127, Stderr: argv[0] + ": applet not found"}
}

func labNode(name, cidr string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelOSStable: "linux"}},
		Spec: corev1.NodeSpec{PodCIDRs: []string{cidr}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.11"}}}}
}

// startKubelet marks every new pod Running and Ready, and every ephemeral
// container added to a pod running, like a node would.
func startKubelet(t *testing.T, cs *fake.Clientset) {
	w, err := cs.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			p = p.DeepCopy()
			switch {
			case ev.Type == "ADDED" && p.Labels["app.kubernetes.io/name"] == "kubectl-netcheck":
				// Only the pods a run creates: a test's own workload pods
				// keep the status they were given.
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = "10.244.1.25"
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			case ev.Type == "MODIFIED" && len(p.Spec.EphemeralContainers) > len(p.Status.EphemeralContainerStatuses):
				for _, ec := range p.Spec.EphemeralContainers[len(p.Status.EphemeralContainerStatuses):] {
					p.Status.EphemeralContainerStatuses = append(p.Status.EphemeralContainerStatuses, corev1.ContainerStatus{Name: ec.Name,
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
				}
			default:
				continue
			}
			_, _ = cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}
	}()
}

type run struct {
	err    error
	code   int
	stdout string
	stderr string
	cs     *fake.Clientset
}

// playAPIServer makes the fake clientset authorize everything and honour
// dryRun, as the real API server does for an allowed user.
func playAPIServer(cs *fake.Clientset) {
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ssar := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview).DeepCopy()
		ssar.Status.Allowed = true
		return true, ssar, nil
	})
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ca, ok := a.(k8stesting.CreateActionImpl); ok && len(ca.CreateOptions.DryRun) > 0 {
			return true, ca.GetObject(), nil
		}
		return false, nil, nil
	})
}

func runExternal(t *testing.T, ex *fakeExec, ctx context.Context, setup func(*fake.Clientset), args ...string) run {
	t.Helper()
	return runExternalIn(t, ex, ctx, []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "netcheck"}}}, setup, args...)
}

// runExternalIn runs `external` on a fake cluster of two nodes and objs.
func runExternalIn(t *testing.T, ex *fakeExec, ctx context.Context, objs []runtime.Object, setup func(*fake.Clientset), args ...string) run {
	t.Helper()
	cs := fake.NewClientset(append(objs, labNode("nc-node1", "10.244.1.0/24"), labNode("nc-node2", "10.244.2.0/24"))...)
	playAPIServer(cs)
	if setup != nil {
		setup(cs)
	}
	startKubelet(t, cs)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewExternalOptions(streams)
	o.Client, o.Exec, o.Namespace, o.RunID, o.Progress = cs, ex, "netcheck", "test01", ptr.To(false)
	o.StartTimeout, o.Output = 10*time.Second, "json"
	o.Args = args[:1]
	for i := 1; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--node":
			o.Nodes = append(o.Nodes, args[i+1])
		case "-o":
			o.Output = args[i+1]
		case "--port":
			o.Port, _ = strconv.Atoi(args[i+1])
		case "--from":
			o.From = args[i+1]
		case "-n":
			o.WorkloadNamespace = args[i+1]
		case "--image":
			o.Image = args[i+1]
		case "--junit-file":
			o.JUnitFile = args[i+1]
		case "--dry-run":
			o.DryRun = args[i+1]
		case "--probe-namespace":
			o.Namespace = args[i+1]
		case "--allow-privileged-in-namespace":
			o.AllowPrivilegedIn = args[i+1] == "true"
		}
	}
	err := o.Validate()
	if err == nil {
		err = o.Run(ctx)
	}
	code, _ := ExitCode(err)
	return run{err: err, code: code, stdout: out.String(), stderr: errOut.String(), cs: cs}
}

func probePodsLeft(t *testing.T, r run) int {
	pods, err := r.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=kubectl-netcheck"})
	if err != nil {
		t.Fatal(err)
	}
	return len(pods.Items)
}

func TestExternalHealthyRun(t *testing.T) {
	ex := &fakeExec{t: t, facts: testdata(t, "../probe/testdata/facts-script.node1.out")}
	r := runExternal(t, ex, context.Background(), nil, "198.19.0.0/24", "--port", "80")
	if r.code != ExitHealthy {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.stdout)
	}
	var res report.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if !res.Healthy || len(res.Nodes) != 2 || len(res.Findings) != 0 || res.Kind != "ExternalCheck" {
		t.Fatalf("result: %+v", res)
	}
	if n := probePodsLeft(t, r); n != 0 {
		t.Fatalf("%d probe pods left", n)
	}
}

func TestExternalMissingMasquerade(t *testing.T) {
	facts := strings.Replace(testdata(t, "../probe/testdata/facts-script.node1.out"),
		"-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE\n", "", 1)
	ex := &fakeExec{t: t, podFails: true, facts: facts}
	r := runExternal(t, ex, context.Background(), nil, "198.19.0.0/24", "--node", "nc-node1", "-o", "table")
	if r.code != ExitProblems {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	for _, want := range []string{"nc-node1  pod   timeout", "ERROR missing-nat on nc-node1",
		"iptables -t nat -A POSTROUTING -s 10.244.1.0/24 -d 198.19.0.0/24 -o eth0 -j MASQUERADE", "(no SNAT)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := probePodsLeft(t, r); n != 0 {
		t.Fatalf("%d probe pods left", n)
	}
}

func TestExternalForbidden(t *testing.T) {
	ex := &fakeExec{t: t}
	r := runExternal(t, ex, context.Background(), func(cs *fake.Clientset) {
		cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New(`User "dev" cannot create resource "pods" in API group "" in the namespace "default"`))
		})
	}, "198.19.0.1")
	if r.code != ExitError || !strings.Contains(r.err.Error(), "not allowed to create pods") || !strings.Contains(r.err.Error(), "RBAC") {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	if ex.calls.Load() != 0 {
		t.Errorf("no exec may run after a fatal launch error")
	}
}

func TestExternalInterruptedCleansUp(t *testing.T) {
	ex := &fakeExec{t: t, block: true}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ex.calls.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel() // Ctrl-C while the checks run
	}()
	r := runExternal(t, ex, ctx, nil, "198.19.0.1")
	if r.code != ExitError || !strings.Contains(r.err.Error(), "interrupted") {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	if n := probePodsLeft(t, r); n != 0 {
		t.Fatalf("%d probe pods left after interruption", n)
	}
}

func TestExternalUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"$(reboot)"}, "not a valid DNS name"},
		{[]string{"198.19.0.1", "--node", "nope"}, "node(s) not found: nope"},
		{[]string{"198.19.0.1", "-o", "xml"}, "use table, wide, json, yaml"},
	}
	for _, tt := range tests {
		r := runExternal(t, &fakeExec{t: t}, context.Background(), nil, tt.args...)
		if r.code != ExitError || r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%v: exit %d err %v, want %q", tt.args, r.code, r.err, tt.want)
		}
	}
}

func TestDiagnoseCauseNamesAreStable(t *testing.T) {
	// -o json consumers match on these strings.
	for c, want := range map[diagnose.Cause]string{diagnose.CauseMissingNAT: "missing-nat", diagnose.CauseMissingRoute: "missing-route",
		diagnose.CauseForwardDrop: "forward-drop", diagnose.CauseIPForwardOff: "ip-forward-off"} {
		if string(c) != want {
			t.Errorf("%s != %s", c, want)
		}
	}
}

func TestExternalMissingPermissionsListedAtOnce(t *testing.T) {
	ex := &fakeExec{t: t}
	r := runExternal(t, ex, context.Background(), func(cs *fake.Clientset) {
		cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
			ssar := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview).DeepCopy()
			attr := ssar.Spec.ResourceAttributes
			ssar.Status.Allowed = attr.Subresource != "exec" && attr.Verb != "delete"
			return true, ssar, nil
		})
	}, "198.19.0.1")
	if r.code != ExitError {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	for _, want := range []string{"delete pods in namespace \"netcheck\"", "create pods/exec in namespace \"netcheck\"", "deploy/rbac.yaml"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, r.err)
		}
	}
	if n := probePodsLeft(t, r); n != 0 || ex.calls.Load() != 0 {
		t.Fatalf("nothing may be launched without the permissions: %d pods, %d execs", n, ex.calls.Load())
	}
}

func TestExternalPodSecurityRunsThePodSideAlone(t *testing.T) {
	ex := &fakeExec{t: t, facts: testdata(t, "../probe/testdata/facts-script.node1.out")}
	r := runExternal(t, ex, context.Background(), func(cs *fake.Clientset) {
		cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
			if p.Spec.HostNetwork {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, p.Name,
					errors.New(`violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true), privileged (container "probe" must not set securityContext.privileged=true)`))
			}
			return false, nil, nil
		})
	}, "198.19.0.1", "-o", "table")
	if r.code != ExitHealthy {
		t.Fatalf("pods reach the target: exit %d: %v\n%s", r.code, r.err, r.stdout)
	}
	for _, want := range []string{"NOT RUN", "note: node-side checks and node facts were not run", "pod-security.kubernetes.io/enforce=privileged"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "warning: node-side checks") {
		t.Errorf("stderr lacks the warning: %q", r.stderr)
	}
	if n := probePodsLeft(t, r); n != 0 {
		t.Fatalf("%d probe pods left", n)
	}
}

// A refused read of NetworkPolicies or ServiceCIDRs is not a silent "none":
// the report says what was not checked.
func TestExternalUnreadableExtrasAreNoted(t *testing.T) {
	ex := &fakeExec{t: t, facts: testdata(t, "../probe/testdata/facts-script.node1.out")}
	r := runExternal(t, ex, context.Background(), func(cs *fake.Clientset) {
		for _, res := range []string{"networkpolicies", "servicecidrs"} {
			res := res
			cs.PrependReactor("list", res, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: res}, "", errors.New("RBAC says no"))
			})
		}
	}, "198.19.0.1", "--node", "nc-node1")
	if r.code != ExitHealthy {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.stdout)
	}
	for _, want := range []string{"not allowed to list networkpolicies in netcheck: NetworkPolicies were not judged",
		"not allowed to list servicecidrs: overlap of the targets with the Service network was not checked"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks the note %q:\n%s", want, r.stdout)
		}
	}
}

// --start-timeout has a ceiling: the pods' server-side deadline grows with it.
func TestStartTimeoutBounded(t *testing.T) {
	o := NewProbeOptions(genericiooptions.IOStreams{})
	o.StartTimeout = 11 * time.Minute
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "between 1s and 10m") {
		t.Fatalf("11m: %v", err)
	}
	o.StartTimeout = time.Minute
	if err := o.Validate(); err != nil {
		t.Fatalf("1m: %v", err)
	}
}

// --from: the pod side runs in the workload pod's netns from the node probe
// (no pod probe is created), only where the workload has a pod; the
// default-deny egress policy of its namespace is named with the policy that
// allows the flow; the workload's pod is left as it was.
func TestExternalFromWorkload(t *testing.T) {
	ex := &fakeExec{t: t, podFails: true, facts: testdata(t, "../probe/testdata/facts-script.node1.out")}
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web", "pod-template-hash": "x1"},
		UID: "0b0c5e2e-8f1e-4c57-9d1b-aaaaaaaaaaaa"},
		Spec:   corev1.PodSpec{NodeName: "nc-node1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.7", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	r := runExternal(t, ex, context.Background(), func(cs *fake.Clientset) {
		for _, o := range []runtime.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"kubernetes.io/metadata.name": "shop"}}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
			web,
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-egress", Namespace: "shop"},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}},
		} {
			if err := cs.Tracker().Add(o); err != nil {
				t.Fatal(err)
			}
		}
	}, "198.19.0.1", "--from", "deploy/web", "-n", "shop")
	if r.code != ExitProblems {
		t.Fatalf("exit %d: %v\n%s\n%s", r.code, r.err, r.stdout, r.stderr)
	}
	var res report.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Nodes) != 1 || res.Nodes[0].Name != "nc-node1" || res.Nodes[0].Pod.IP != "10.244.1.7" || !strings.Contains(res.Nodes[0].Pod.As, "shop/web-1") {
		t.Fatalf("nodes: %+v", res.Nodes)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Node != "nc-node2" || !strings.Contains(res.Skipped[0].Reason, "no running pod of deploy/web") {
		t.Fatalf("skipped: %+v", res.Skipped)
	}
	if len(res.Findings) != 1 || res.Findings[0].Cause != diagnose.CauseNetworkPolicy || !strings.Contains(strings.Join(res.Findings[0].Fix, "\n"), "kubectl apply -f -") {
		t.Fatalf("findings: %+v", res.Findings)
	}
	if ex.inPod.Load() == 0 {
		t.Fatal("no check ran in the workload's netns")
	}
	for _, a := range r.cs.Actions() {
		if c, ok := a.(k8stesting.CreateActionImpl); ok && a.GetResource().Resource == "pods" && len(c.CreateOptions.DryRun) == 0 {
			if p := c.GetObject().(*corev1.Pod); strings.HasPrefix(p.Name, "netcheck-pod-") {
				t.Fatalf("a pod probe was created: %s", p.Name)
			}
		}
		if a.GetNamespace() == "shop" && a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			t.Fatalf("the workload's namespace was changed: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}
