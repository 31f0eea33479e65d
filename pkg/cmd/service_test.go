package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

func shopService(selector map[string]string, targetPort intstr.IntOrString) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.7.7", Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: targetPort}}}}
}

func webPod(name, node, ip string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "echo",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	if !ready {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "echo", RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	}
	return p
}

func webSlice(ready ...bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}}
	for i, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244." + string(rune('1'+i)) + ".9"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}, NodeName: ptr.To("nc-node1"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-" + string(rune('a'+i))}})
	}
	return s
}

// runService runs the command on a fake API holding objs. Paths that
// need no probe pod are tested here; the live checks run end to end (e2e).
func runService(t *testing.T, name string, objs ...runtime.Object) (run, report.Result) {
	t.Helper()
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		labNode("nc-node1", "10.244.1.0/24"), labNode("nc-node2", "10.244.2.0/24"))
	cs := fake.NewClientset(objs...)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	ex := &fakeExec{t: t}
	o := NewServiceOptions(streams)
	o.Client, o.Exec, o.Namespace, o.RunID, o.Progress = cs, ex, "shop", "test01", ptr.To(false)
	o.StartTimeout, o.Output, o.Name, o.svcNamespace = 10*time.Second, "json", name, "shop"
	err := o.Validate()
	if err == nil {
		err = o.Run(context.Background())
	}
	code, _ := ExitCode(err)
	r := run{err: err, code: code, stdout: out.String(), stderr: errOut.String(), cs: cs}
	var res report.Result
	if code != ExitError {
		if jerr := json.Unmarshal([]byte(r.stdout), &res); jerr != nil {
			t.Fatalf("-o json: %v\n%s", jerr, r.stdout)
		}
	}
	if ex.calls.Load() != 0 {
		t.Errorf("%d execs: no probe should run without ready endpoints", ex.calls.Load())
	}
	if n := probePodsLeft(t, r); n != 0 {
		t.Errorf("%d probe pods left", n)
	}
	return r, res
}

func causes(res report.Result) string {
	var out []string
	for _, f := range res.Findings {
		out = append(out, string(f.Severity)+" "+string(f.Cause))
	}
	return strings.Join(out, ", ")
}

func TestServiceStatic(t *testing.T) {
	named := intstr.FromString("http")
	tests := []struct {
		name   string
		svc    string
		objs   []runtime.Object
		code   int
		causes string
		text   string // in stdout (the JSON report) or the error
	}{
		{"not found: close names suggested", "wbe",
			[]runtime.Object{shopService(map[string]string{"app": "web"}, named)},
			ExitError, "", `service "wbe" not found in namespace "shop"; did you mean web?`},
		{"selector matches no pod: nearest labels", "web",
			[]runtime.Object{shopService(map[string]string{"app": "wbe"}, named), webPod("web-a", "nc-node1", "10.244.1.9", true)},
			ExitProblems, "error selector-matches-no-pods", `{\"spec\":{\"selector\":{\"app\":\"web\"}}}`},
		{"no pod ready: EndpointSlice says not ready", "web",
			[]runtime.Object{shopService(map[string]string{"app": "web"}, named), webPod("web-a", "nc-node1", "10.244.1.9", false), webSlice(false)},
			ExitProblems, "error endpoints-not-ready", "not ready (CrashLoopBackOff), 4 restarts"},
		{"named targetPort no container declares", "web",
			[]runtime.Object{shopService(map[string]string{"app": "web"}, intstr.FromString("web")), webPod("web-a", "nc-node1", "10.244.1.9", true)},
			ExitProblems, "error targetport-mismatch", `targetPort \"web\" names no container port`},
		{"no selector, no EndpointSlice", "web",
			[]runtime.Object{shopService(nil, named)},
			ExitProblems, "error no-selector", "kubernetes.io/service-name=web"},
		{"ExternalName", "web",
			[]runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.corp.internal"}}},
			ExitHealthy, "info external-name", "kubectl netcheck external db.corp.internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, res := runService(t, tc.svc, tc.objs...)
			if r.code != tc.code || causes(res) != tc.causes {
				t.Fatalf("exit %d causes %q, want %d %q\nerr: %v\n%s", r.code, causes(res), tc.code, tc.causes, r.err, r.stdout)
			}
			got := r.stdout
			if r.err != nil {
				got += r.err.Error()
			}
			if !strings.Contains(got, tc.text) {
				t.Fatalf("output lacks %q:\n%s", tc.text, got)
			}
		})
	}
}
