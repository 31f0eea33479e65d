package launch

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The informer keeps slim probe pods: exactly what the wait reads, so
// PodState and VerifyImage answer on them as on the whole pod.
func TestSlimPod(t *testing.T) {
	o := PodOptions{Namespace: "netcheck", RunID: "r1", Image: "ghcr.io/netcheck/probe:1.35.0@sha256:" + defaultDigest, Lifetime: 60}
	full := PodProbe(o, "n1", 0)
	full.Spec.NodeName = "n1"
	full.ResourceVersion, full.UID = "42", "u-1"
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	full.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.5",
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: Container, Ready: true, ImageID: "ghcr.io/netcheck/probe@sha256:" + defaultDigest}}}
	got, err := slimPod(full)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: full.Name, Namespace: "netcheck", UID: "u-1", ResourceVersion: "42", Labels: full.Labels},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: Container, Image: o.Image}}},
		Status:     full.Status,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("slim pod (-want +got):\n%s", d)
	}
	slim := got.(*corev1.Pod)
	for _, p := range []*corev1.Pod{full, slim} {
		if ready, err := PodState(p); !ready || err != nil {
			t.Errorf("PodState: %v %v", ready, err)
		}
	}
	// A node that resolved another image: the slim pod still says so.
	slim.Status.ContainerStatuses[0].ImageID = "ghcr.io/netcheck/probe@sha256:" + "0000000000000000000000000000000000000000000000000000000000000000"
	if VerifyImage(slim) == nil {
		t.Error("VerifyImage passed a foreign image on the slim pod")
	}
	if o, err := slimPod("tombstone"); o != "tombstone" || err != nil {
		t.Errorf("non-pod: %v %v", o, err)
	}
}
