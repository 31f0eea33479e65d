package launch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ErrFatal matches (errors.Is) every FatalError.
var ErrFatal = errors.New("fatal")

// FatalError is an error every node would hit (RBAC, admission, a missing
// namespace): it stops the whole run. Its message says what to do.
type FatalError struct{ Msg string }

func (e *FatalError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrFatal) true.
func (e *FatalError) Is(target error) bool { return target == ErrFatal }

func fatalf(format string, a ...any) error { return &FatalError{Msg: fmt.Sprintf(format, a...)} }

// Launcher creates probe pods and tracks them with one informer per run:
// one list+watch for all nodes, however many there are.
type Launcher struct {
	Client kubernetes.Interface
	Opts   PodOptions

	mu   sync.Mutex
	pods map[string]*corev1.Pod
	gone map[string]bool
	// waiters holds, per pod name, a channel closed at that pod's next
	// event: one pod's update wakes only its own waiter.
	waiters map[string]chan struct{}
	created []string
	stop    context.CancelFunc
	// MaxCreating bounds the creates in flight (0 = CreatesInFlight).
	MaxCreating int
	creating    chan struct{}
	slotsOnce   sync.Once
}

// CreatesInFlight is how many pod creates a run has in flight at once.
// kube-apiserver serves 200 mutating requests at a time by default
// (--max-mutating-requests-inflight) and queues the rest, so more buys no
// speed; but each create in flight holds a goroutine, an HTTP/2 stream and
// its encoded pod. At 5,000 nodes against a real API server on 2 cores,
// 10,000 creates at once took the plugin to 1.2 GB RSS and timed out 1,477
// nodes' creates (docs/performance.md).
const CreatesInFlight = 200

// Start begins watching the run's pods. Call before Launch. The first
// list must answer within syncTimeout: a watch the API server refuses or
// stalls on would otherwise retry silently forever.
func (l *Launcher) Start(ctx context.Context, syncTimeout time.Duration) error {
	l.pods, l.gone, l.waiters = map[string]*corev1.Pod{}, map[string]bool{}, map[string]chan struct{}{}
	ctx, l.stop = context.WithCancel(ctx)
	sel := Selector(l.Opts.RunID)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return l.Client.CoreV1().Pods(l.Opts.Namespace).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return l.Client.CoreV1().Pods(l.Opts.Namespace).Watch(ctx, o)
		},
	}
	// The wrapper tells the reflector when the client cannot stream a
	// watch-list (the fake clientset): it lists and watches instead.
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, l.Client), &corev1.Pod{}, 0, cache.Indexers{})
	_ = inf.SetTransform(slimPod) // before Run: it cannot fail then
	update := func(obj interface{}) {
		if p, ok := obj.(*corev1.Pod); ok {
			l.mu.Lock()
			l.pods[p.Name] = p
			l.wakeLocked(p.Name)
			l.mu.Unlock()
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj interface{}) { update(obj) },
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				l.mu.Lock()
				l.gone[p.Name] = true
				l.wakeLocked(p.Name)
				l.mu.Unlock()
			}
		},
	})
	var listErr error
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		l.mu.Lock()
		listErr = err
		l.mu.Unlock()
		if apierrors.IsForbidden(err) {
			cancel() // retrying will not grant it
		}
	})
	go inf.RunWithContext(ctx)
	// The watch must be running before the first create, so no event is missed.
	if cache.WaitForCacheSync(sctx.Done(), inf.HasSynced) {
		return nil
	}
	l.mu.Lock()
	why := listErr
	l.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if why == nil {
		why = errors.New("no answer")
	}
	if apierrors.IsForbidden(why) {
		return fatalf("cannot watch pods in namespace %q: %s\n  netcheck needs list and watch on pods there (see the README's RBAC section)", l.Opts.Namespace, StatusMessage(why))
	}
	return fatalf("the watch on probe pods in namespace %q did not start within %s (%v); is the API server answering? (raise --start-timeout if it is slow)", l.Opts.Namespace, syncTimeout, why)
}

func (l *Launcher) wakeLocked(name string) {
	if ch, ok := l.waiters[name]; ok {
		close(ch)
		delete(l.waiters, name)
	}
}

// Stop ends the watch.
func (l *Launcher) Stop() {
	if l.stop != nil {
		l.stop()
	}
}

// Create submits a pod. Errors that every node would hit are wrapped in ErrFatal.
func (l *Launcher) Create(ctx context.Context, pod *corev1.Pod) error {
	l.slotsOnce.Do(func() {
		n := l.MaxCreating
		if n <= 0 {
			n = CreatesInFlight
		}
		l.creating = make(chan struct{}, n)
	})
	select {
	case l.creating <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("creating probe pod %s: %w", pod.Name, context.Cause(ctx))
	}
	defer func() { <-l.creating }()
	l.mu.Lock()
	l.created = append(l.created, pod.Name)
	l.mu.Unlock()
	_, err := l.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	return CreateError(err, pod)
}

// CreateError turns an API refusal into a message that says what to do.
func CreateError(err error, pod *corev1.Pod) error {
	ns := pod.Namespace
	role := pod.Labels[LabelRole]
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity"):
		return fatalf("namespace %q refuses the %s probe pod by PodSecurity admission: %s\n"+
			"  the node probe must run privileged with hostNetwork/hostPID; run with --probe-namespace <ns> where\n"+
			"  pod-security.kubernetes.io/enforce=privileged is set (kubectl label ns <ns> pod-security.kubernetes.io/enforce=privileged)", ns, role, StatusMessage(err))
	case apierrors.IsForbidden(err):
		return fatalf("not allowed to create pods in namespace %q: %s\n"+
			"  netcheck needs create/delete/get/list/watch on pods and create on pods/exec there (see the README's RBAC section)", ns, StatusMessage(err))
	case apierrors.IsNotFound(err):
		return fatalf("namespace %q not found: pass an existing one with --probe-namespace (or -n)", ns)
	case apierrors.IsInvalid(err):
		return fatalf("the API server rejected the %s probe pod as invalid: %s", role, StatusMessage(err))
	}
	return fmt.Errorf("creating %s probe pod %s: %w", role, pod.Name, err)
}

// StatusMessage is the API server's own message for a failed call.
func StatusMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Message
	}
	return err.Error()
}

// WaitReady blocks until the pod is Ready and returns it, failing fast on
// states that will not heal (image pull errors, admission rejections,
// a failed or deleted pod). The wait is driven by the informer, not polling.
func (l *Launcher) WaitReady(ctx context.Context, name string) (*corev1.Pod, error) {
	for {
		l.mu.Lock()
		p, gone := l.pods[name], l.gone[name]
		ch, ok := l.waiters[name]
		if !ok {
			ch = make(chan struct{})
			l.waiters[name] = ch
		}
		l.mu.Unlock()
		if gone {
			return nil, fmt.Errorf("probe pod %s was deleted while starting", name)
		}
		if p != nil {
			ready, err := PodState(p)
			if err == nil && ready {
				err = VerifyImage(p)
			}
			if err != nil || ready {
				return p, err
			}
		}
		select {
		case <-ctx.Done():
			return p, waitTimeout(ctx, name, p)
		case <-ch:
		}
	}
}

func waitTimeout(ctx context.Context, name string, p *corev1.Pod) error {
	state := "not seen by the watch"
	if p != nil {
		state = "phase " + string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil {
				state += ", " + cs.State.Waiting.Reason
				if cs.State.Waiting.Message != "" {
					state += ": " + cs.State.Waiting.Message
				}
			}
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		node := ""
		if p != nil {
			node = " on node " + p.Spec.NodeName
		}
		return fmt.Errorf("probe pod %s%s did not become ready in time (%s); see `kubectl describe pod %s`, or raise --start-timeout", name, node, state, name)
	}
	return fmt.Errorf("probe pod %s: %w (%s)", name, ctx.Err(), state)
}

// PodState tells whether a pod is ready, or why it never will be.
func PodState(p *corev1.Pod) (bool, error) {
	node := p.Spec.NodeName
	image := ""
	if len(p.Spec.Containers) > 0 {
		image = p.Spec.Containers[0].Image
	}
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		why := p.Status.Reason
		if p.Status.Message != "" {
			why += ": " + p.Status.Message
		}
		return false, fmt.Errorf("probe pod %s on node %s ended before it was used (%s %s)", p.Name, node, p.Status.Phase, why)
	}
	for _, cs := range p.Status.ContainerStatuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
			return false, fmt.Errorf("node %s cannot pull image %q (%s: %s)\n"+
				"  mirror the image to a registry the node can reach and pass it with --image/--node-image", node, image, w.Reason, w.Message)
		case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
			return false, fmt.Errorf("node %s cannot start probe pod %s (%s: %s)", node, p.Name, w.Reason, w.Message)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return false, fmt.Errorf("probe pod %s cannot be placed on node %s: %s", p.Name, node, c.Message)
		}
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning {
			return true, nil
		}
	}
	return false, nil
}

// CleanupTimeout is how long Cleanup gets for a run on this many nodes: an
// API server deletes a collection one pod after another (kube-apiserver's
// --delete-collection-workers defaults to 1), ~7 ms a pod on 2 cores.
func CleanupTimeout(nodes int) time.Duration {
	return 15*time.Second + time.Duration(nodes)*20*time.Millisecond
}

// Cleanup deletes every pod of the run. Its context must not be the run's:
// it runs after Ctrl-C or a timeout cancelled that one (a second Ctrl-C
// cancels this one).
func (l *Launcher) Cleanup(parent context.Context, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	l.mu.Lock()
	names := append([]string(nil), l.created...)
	l.mu.Unlock()
	if len(names) == 0 {
		return 0, nil
	}
	pods := l.Client.CoreV1().Pods(l.Opts.Namespace)
	grace := DeleteOptions()
	// Only this run's pods, by every label netcheck sets: never a pod that
	// shares one label with ours.
	sel := metav1.ListOptions{LabelSelector: LabelApp + "=" + AppName + "," + LabelManaged + "=" + AppName + "," + Selector(l.Opts.RunID)}
	// One call for the whole run; then whatever is still listed (a role
	// without deletecollection, a create that landed late, a collection the
	// server had not finished in its share of the time) one by one.
	cctx, ccancel := context.WithTimeout(ctx, timeout*2/3)
	_ = pods.DeleteCollection(cctx, grace, sel)
	ccancel()
	left, err := pods.List(ctx, sel)
	if err != nil {
		left = &corev1.PodList{}
		for _, n := range names {
			left.Items = append(left.Items, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
	}
	// One by one, but many at once: a thousand-node run must not outlast its timeout.
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, p := range left.Items {
		if p.DeletionTimestamp != nil || (err == nil && !Ours(p)) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(name string) {
			defer wg.Done()
			defer func() { <-sem }()
			if e := pods.Delete(ctx, name, grace); e != nil && !apierrors.IsNotFound(e) {
				mu.Lock()
				errs = append(errs, e)
				mu.Unlock()
			}
		}(p.Name)
	}
	wg.Wait()
	if len(errs) > 0 {
		return len(names), fmt.Errorf("could not delete %d probe pod(s) (first error: %v); remove them with `kubectl netcheck cleanup` or `kubectl delete pods -n %s -l %s`",
			len(errs), errs[0], l.Opts.Namespace, Selector(l.Opts.RunID))
	}
	return len(names), nil
}

// Reap deletes probe pods of earlier runs that have already ended (their
// run was killed and activeDeadlineSeconds stopped them): a stopped pod
// holds no privilege, but its object would linger. Pods still running
// belong to a run in progress and are left alone. Returns how many it removed.
func Reap(ctx context.Context, cs kubernetes.Interface, namespace string) int {
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: OwnedSelector})
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range list.Items {
		if !Ours(p) || (p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded) {
			continue
		}
		if p.DeletionTimestamp != nil {
			continue // already deleted (by the run that made it) and going
		}
		if err := cs.CoreV1().Pods(namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err == nil {
			n++
		}
	}
	return n
}

// slimPod keeps of a probe pod what the launcher reads (WaitReady,
// PodState, VerifyImage): its name, node, containers' images and status.
// A 5,000-node run holds 10,000 of them; their specs, security contexts
// and managed fields are most of each object and nothing here reads them.
func slimPod(obj interface{}) (interface{}, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone: the delete handler unwraps it
	}
	s := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp},
		Spec:   corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status: p.Status,
	}
	for _, c := range p.Spec.Containers {
		s.Spec.Containers = append(s.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	return s, nil
}
