package launch

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// ephemeralKubelet plays the kubelet for an ephemeral container: once the
// container is in the pod's spec, its status becomes state.
func ephemeralKubelet(t *testing.T, cs *fake.Clientset, name string, state corev1.ContainerState) {
	t.Helper()
	go func() {
		for i := 0; i < 200; i++ {
			p, err := cs.CoreV1().Pods("shop").Get(context.Background(), "web", metav1.GetOptions{})
			if err == nil && len(p.Spec.EphemeralContainers) > 0 {
				p.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: name, State: state}}
				if _, err := cs.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err == nil {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

func TestAddEphemeral(t *testing.T) {
	tests := []struct {
		name    string
		state   *corev1.ContainerState // nil: the kubelet never starts it
		wantErr string
	}{
		{"runs", &corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, ""},
		{"image cannot be pulled", &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "no such image"}}, "ImagePullBackOff: no such image"},
		{"ended at once", &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error"}}, "ended: Error"},
		{"never starts: the context ends the wait", nil, "did not start: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}})
			name := EphemeralName("r1")
			if tt.state != nil {
				ephemeralKubelet(t, cs, name, *tt.state)
			}
			wait := 3 * time.Second
			if tt.state == nil {
				wait = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			got, err := AddEphemeral(ctx, cs, "shop", "web", PodOptions{RunID: "r1", Image: "busybox:1.36"})
			switch {
			case tt.wantErr == "" && (err != nil || got != name):
				t.Fatalf("got %q, %v; want %q", got, err, name)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tt.wantErr)
			}
			p, _ := cs.CoreV1().Pods("shop").Get(context.Background(), "web", metav1.GetOptions{})
			if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].Name != name {
				t.Errorf("ephemeral containers %+v", p.Spec.EphemeralContainers)
			}
		})
	}
}
