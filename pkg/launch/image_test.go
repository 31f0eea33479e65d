package launch

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateImage(t *testing.T) {
	d := strings.Repeat("ab", 32)
	for ref, ok := range map[string]bool{
		DefaultImage:                           true,
		"busybox:1.36":                         true,
		"registry.local:5000/bb:1@sha256:" + d: true,
		"busybox@sha256:" + d:                  true,
		"busybox; reboot":                      false,
		"busybox:1.36@sha256:abc":              false,
		"-busybox":                             false,
		"bb:1.36:":                             false,
		"BusyBox":                              false,
		"a//b":                                 false,
	} {
		if err := ValidateImage(ref); (err == nil) != ok {
			t.Errorf("ValidateImage(%q) = %v, want ok=%v", ref, err, ok)
		}
	}
	if Digest(DefaultImage) != "sha256:"+defaultDigest || Digest("busybox:1.36") != "" {
		t.Errorf("Digest: %q %q", Digest(DefaultImage), Digest("busybox:1.36"))
	}
}

func TestVerifyImage(t *testing.T) {
	pinned := "ghcr.io/netcheck/probe:1.35.0@sha256:" + strings.Repeat("1", 64)
	pod := func(image, imageID string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netcheck-node-abc123-0"},
			Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: Container, Image: image}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: Container, ImageID: imageID}}}}
	}
	tests := []struct {
		name, image, imageID string
		fails                bool
	}{
		{"the pinned digest ran", pinned, "ghcr.io/netcheck/probe@sha256:" + strings.Repeat("1", 64), false},
		{"another image ran", pinned, "ghcr.io/netcheck/probe@sha256:" + strings.Repeat("2", 64), true},
		{"a bare image id cannot be compared", pinned, "sha256:" + strings.Repeat("3", 64), false},
		{"not pinned: nothing to compare", "busybox:1.36", "docker.io/library/busybox@sha256:" + strings.Repeat("2", 64), false},
		{"no status yet", pinned, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyImage(pod(tc.image, tc.imageID))
			if (err != nil) != tc.fails {
				t.Fatalf("err = %v, want fails=%v", err, tc.fails)
			}
			if err != nil && (!errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "node n1") || !strings.Contains(err.Error(), tc.imageID)) {
				t.Errorf("a mismatch must stop the run naming the node and what ran: %v", err)
			}
		})
	}
}
