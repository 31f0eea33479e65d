package workload

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct{ in, kind, name, err string }{
		{in: "deploy/web", kind: "deployment", name: "web"},
		{in: "Deployment/web", kind: "deployment", name: "web"},
		{in: "pod/web-1", kind: "pod", name: "web-1"},
		{in: "sts/db", kind: "statefulset", name: "db"},
		{in: "ds/agent", kind: "daemonset", name: "agent"},
		{in: "app=web,tier in (front)", kind: ""},
		{in: "svc/web", err: `unknown kind "svc"`},
		{in: "deploy/Web_1", err: "not a valid name"},
		{in: "", err: "--from is empty"},
		{in: "!!", err: "neither KIND/NAME nor a label selector"},
	} {
		r, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %+v, %v; want error %q", tt.in, r, err, tt.err)
			}
			continue
		}
		if err != nil || r.Kind != tt.kind || r.Name != tt.name {
			t.Errorf("Parse(%q) = %+v, %v", tt.in, r, err)
		}
	}
}

func wpod(name, node, ip string, phase corev1.PodPhase, readyNow bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"},
		UID: types.UID("0b0c5e2e-8f1e-4c57-9d1b-" + strings.Repeat("a", 12))},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
	st := corev1.ConditionFalse
	if readyNow {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func TestPerNode(t *testing.T) {
	host := wpod("web-h", "n3", "198.18.0.13", corev1.PodRunning, true)
	host.Spec.HostNetwork = true
	badUID := wpod("web-u", "n3", "10.244.3.9", corev1.PodRunning, true)
	badUID.UID = "x; reboot"
	got, unusable := PerNode([]corev1.Pod{
		wpod("web-b", "n1", "10.244.1.3", corev1.PodRunning, true),
		wpod("web-a", "n1", "10.244.1.2", corev1.PodRunning, false), // not ready: a ready one wins
		wpod("web-c", "n2", "10.244.2.2", corev1.PodPending, false),
		wpod("web-d", "n2", "", corev1.PodRunning, true),
		host, badUID,
	})
	if len(got) != 1 || got["n1"].Pod.Name != "web-b" || got["n1"].IP.String() != "10.244.1.3" {
		t.Fatalf("%+v", got)
	}
	joined := strings.Join(unusable, "\n")
	for _, want := range []string{"web-c: pending", "web-d: no pod IP yet", "web-h: hostNetwork", "web-u: its UID is not a UUID"} {
		if !strings.Contains(joined, want) {
			t.Errorf("unusable lacks %q:\n%s", want, joined)
		}
	}
}

func TestPodsOfADeployment(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	mine, other := wpod("web-1", "n1", "10.244.1.2", corev1.PodRunning, true), wpod("db-1", "n1", "10.244.1.3", corev1.PodRunning, true)
	other.Labels = map[string]string{"app": "db"}
	c := fake.NewSimpleClientset(d, &mine, &other)
	r, _ := Parse("deploy/web")
	pods, err := Pods(context.Background(), c, "shop", r)
	if err != nil || len(pods) != 1 || pods[0].Name != "web-1" {
		t.Fatalf("%v %+v", err, pods)
	}
	r, _ = Parse("deploy/nope")
	if _, err := Pods(context.Background(), c, "shop", r); err == nil {
		t.Fatal("a missing deployment is an error")
	}
}
