package launch

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

// EphemeralName is the probe container added to a user's pod by a run.
func EphemeralName(runID string) string { return "netcheck-" + runID }

// AddEphemeral adds a busybox probe container to a running pod (one of the
// user's backends: `service --hairpin`) and waits until it runs. Kubernetes
// cannot remove an ephemeral container: it stays in the pod's spec,
// terminated after its sleep, until the pod is replaced. The caller says so.
func AddEphemeral(ctx context.Context, cs kubernetes.Interface, ns, pod string, o PodOptions) (string, error) {
	name := EphemeralName(o.RunID)
	p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	base := p.Spec.EphemeralContainers
	// First with NET_RAW kept, as the pod probe has it, for ping; a
	// namespace under PodSecurity restricted refuses that: then with every
	// capability dropped (TCP and DNS work, ping says it may not).
	for _, drop := range [][]corev1.Capability{podProbeDrops, {"ALL"}} {
		p.Spec.EphemeralContainers = append(append([]corev1.EphemeralContainer(nil), base...), corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: name, Image: o.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: sleepArgv(o),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: drop},
				},
			},
		})
		_, err = cs.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod, p, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsForbidden(err) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	// One pod, listed then watched (a dropped watch is re-listed), until
	// the container runs or cannot.
	sel := fields.OneTermEqualSelector("metadata.name", pod).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}
	_, err = watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, cs), &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, errors.New("pod " + pod + " was deleted")
		}
		if cur, isPod := ev.Object.(*corev1.Pod); isPod {
			return ephemeralState(cur, name)
		}
		return false, nil
	})
	switch {
	case err == nil:
		return name, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("ephemeral container %s in pod %s did not start: %w", name, pod, ctx.Err())
	}
	return "", err
}

// ephemeralState: running (done, nil), failed to start (done, err), or not yet.
func ephemeralState(p *corev1.Pod, name string) (bool, error) {
	for _, s := range p.Status.EphemeralContainerStatuses {
		if s.Name != name {
			continue
		}
		switch {
		case s.State.Running != nil:
			return true, nil
		case s.State.Terminated != nil:
			return true, fmt.Errorf("ephemeral container %s ended: %s", name, s.State.Terminated.Reason)
		case s.State.Waiting != nil && (s.State.Waiting.Reason == "ErrImagePull" || s.State.Waiting.Reason == "ImagePullBackOff" || s.State.Waiting.Reason == "CreateContainerError"):
			return true, fmt.Errorf("ephemeral container %s: %s: %s", name, s.State.Waiting.Reason, s.State.Waiting.Message)
		}
	}
	return false, nil
}
