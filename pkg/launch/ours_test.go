package launch

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestOurs(t *testing.T) {
	o := PodOptions{Namespace: "netcheck", RunID: "abc123", Image: "busybox:1.36", Lifetime: time.Minute}
	edit := func(p *corev1.Pod, f func(*corev1.Pod)) corev1.Pod { c := *p.DeepCopy(); f(&c); return c }
	pod, node := PodProbe(o, "n1", 3), NodeProbe(o, "n1", 3)
	for _, tc := range []struct {
		name string
		p    corev1.Pod
		want bool
	}{
		{"our pod probe", *pod, true},
		{"our node probe", *node, true},
		{"the app label alone", edit(pod, func(p *corev1.Pod) { p.Labels = map[string]string{LabelApp: AppName} }), false},
		{"every label, another name", edit(pod, func(p *corev1.Pod) { p.Name = "database-0" }), false},
		{"our name, another run's id", edit(pod, func(p *corev1.Pod) { p.Labels[LabelRunID] = "zzz999" }), false},
		{"a role we never create", edit(node, func(p *corev1.Pod) { p.Labels[LabelRole] = "admin"; p.Name = "netcheck-admin-abc123-3" }), false},
		{"a suffix after our name", edit(pod, func(p *corev1.Pod) { p.Name += "-x" }), false},
		{"not managed by us", edit(pod, func(p *corev1.Pod) { delete(p.Labels, LabelManaged) }), false},
	} {
		if got := Ours(tc.p); got != tc.want {
			t.Errorf("%s: Ours = %v, want %v", tc.name, got, tc.want)
		}
	}
}
