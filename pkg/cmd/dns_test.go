package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

func TestDNSOutsideIsValidated(t *testing.T) {
	_, err := execute("dns", "--outside", "www.example.net;id")
	if code, _ := ExitCode(err); code != ExitError || !strings.Contains(err.Error(), "--outside") {
		t.Errorf("exit %d: %v", code, err)
	}
}

// The Corefile is read from the ConfigMap the DNS pods mount; when it
// cannot be read, the Forward says why instead of failing the run.
func TestDNSForwardFromTheMountedCorefile(t *testing.T) {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1", Namespace: "kube-system"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "config",
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"},
			Items: []corev1.KeyToPath{{Key: "Corefile", Path: "Corefile"}}}}}}}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system"},
		Data: map[string]string{"Corefile": ".:53 {\n    forward . 198.19.0.1\n}\n"}}
	ctx := context.Background()
	got := readCorefile(ctx, fake.NewClientset(cm), "kube-system", []corev1.Pod{pod}).ForwardFor("www.example.net")
	want := diagnose.Forward{Source: "ConfigMap kube-system/coredns", ConfigMap: "kube-system/coredns", Zone: ".", Line: "forward . 198.19.0.1", Targets: []string{"198.19.0.1"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := readCorefile(ctx, fake.NewClientset(), "kube-system", []corev1.Pod{pod}).ForwardFor("x.example"); got.Source != want.Source || !strings.Contains(got.Err, "not read") || len(got.Targets) != 0 {
		t.Errorf("missing ConfigMap: %+v", got)
	}
	// external finds the pods through the default DNS Service.
	pod.Labels = map[string]string{"k8s-app": "kube-dns"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"k8s-app": "kube-dns"}}}
	if d := cmp.Diff(want, clusterCorefile(ctx, fake.NewClientset(cm, svc, &pod)).ForwardFor("www.example.net")); d != "" {
		t.Errorf("through kube-system/kube-dns (-want +got):\n%s", d)
	}
	if got := clusterCorefile(ctx, fake.NewClientset(cm)); !strings.Contains(got.Err, "not read") || got.Source != "Service kube-system/kube-dns" {
		t.Errorf("no DNS Service: %+v", got)
	}
	if got := readCorefile(ctx, fake.NewClientset(cm), "kube-system", nil); !strings.Contains(got.Err, "no ConfigMap") {
		t.Errorf("no pods: %+v", got)
	}
}
