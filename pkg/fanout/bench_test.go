package fanout_test

// The orchestration path at scale: fanout.Run with a real launch.Launcher on
// the fake clientset, with simulated API latency, a simulated kubelet and a
// simulated exec. Run:
//
//	go test -bench . -run '^$' -benchtime 1x ./pkg/fanout/
//
// NETCHECK_BENCH_SCALE multiplies every simulated delay and divides the
// simulated client QPS (default 0.25, so the whole run stays well under a
// minute on 2 cores); scripts/bench.sh runs at 1, the lab cluster's delays.
// NETCHECK_BENCH_NODES overrides the node counts (e.g. "3,1000").
// NETCHECK_BENCH_DELETECOLLECTION=refused simulates a role without
// deletecollection (Cleanup's one-by-one fallback).
//
// The fake API server runs in this process, on the same cores: its own
// CPU and its global lock (k8s.io/client-go/testing.Fake.Invokes) are in
// the wall times; docs/performance.md says how much.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// sim is the simulated cluster. Every duration is at scale 1 (what the lab
// cluster shows) and multiplied by scale when used.
type sim struct {
	scale float64
	// API round trips, per call, outside the fake's global lock (a real
	// API server serves calls concurrently).
	create, del, get, list, watch, deleteCollection time.Duration
	// Kubelet: created → Pending (ContainerCreating) → Running+Ready.
	pending, podStart time.Duration
	jitter            float64 // ± fraction of podStart
	// Exec: the exec round trip, plus the command's own time: a ping's
	// replies (from its argv: -c, -i, plus rtt), the fact script's reads.
	exec, rtt, script time.Duration
	// Client-side rate limit as rest.Config applies it (the plugin's
	// --qps/--burst); qps 0 = none. Exec streams are not rate-limited by
	// client-go (remotecommand does not go through rest.Request).
	qps   float32
	burst int
	// serverDeleteCollection: the API server (and RBAC) honours
	// deletecollection; false = the fake's default (refused), which sends
	// Cleanup down its one-by-one fallback.
	serverDeleteCollection bool
}

func realistic(scale float64) sim {
	return sim{
		scale:  scale,
		create: 5 * time.Millisecond, del: 5 * time.Millisecond, get: 5 * time.Millisecond,
		list: 10 * time.Millisecond, watch: 5 * time.Millisecond, deleteCollection: 20 * time.Millisecond,
		pending: 50 * time.Millisecond, podStart: 800 * time.Millisecond, jitter: 0.2,
		exec: 20 * time.Millisecond, rtt: time.Millisecond, script: 30 * time.Millisecond,
		serverDeleteCollection: true,
	}
}

func (s sim) d(d time.Duration) time.Duration { return time.Duration(float64(d) * s.scale) }

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// cluster is one simulated run's fake API server, kubelet and exec.
type cluster struct {
	sim     sim
	fake    *fake.Clientset
	tracker *eventTracker
	rl      flowcontrol.RateLimiter

	mu    sync.Mutex
	calls map[string]int // "verb resource[/subresource]" → count (plugin's calls only)

	execs     atomic.Int64
	createdAt atomic.Int64 // unix ns of the last pod create stored
	timers    sync.WaitGroup
	stopped   atomic.Bool
}

func newCluster(s sim) *cluster {
	c := &cluster{sim: s, calls: map[string]int{}}
	// The fake clientset on the plain object tracker (NewClientset's
	// field-managed tracker spends CPU per write on managedFields, which a
	// real API server does on its own cores), with watch events served from
	// a deep buffer: the tracker's own watchers hold 100 events and panic
	// ("channel full") when 2000 pods change at once, where a real API
	// server's watch cache just buffers.
	c.tracker = &eventTracker{ObjectTracker: k8stesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())}
	// The kubelet hears of a pod once it is stored, as a real one would.
	c.tracker.onCreate = func(obj k8sruntime.Object) {
		if p, ok := obj.(*corev1.Pod); ok {
			c.createdAt.Store(time.Now().UnixNano())
			c.kubelet(p)
		}
	}
	c.fake = &fake.Clientset{}
	c.fake.AddReactor("*", "*", k8stesting.ObjectReaction(c.tracker))
	c.fake.AddWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		return true, c.tracker.watch(a.GetResource(), a.GetNamespace()), nil
	})
	if s.qps > 0 {
		c.rl = flowcontrol.NewTokenBucketRateLimiter(s.qps/float32(s.scale), s.burst)
	}
	count := func(a k8stesting.Action) {
		k := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			k += "/" + a.GetSubresource()
		}
		c.mu.Lock()
		c.calls[k]++
		c.mu.Unlock()
	}
	c.fake.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		count(a)
		return false, nil, nil
	})
	c.fake.PrependReactor("*", "*", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		count(a)
		if a.GetVerb() == "delete-collection" && s.serverDeleteCollection {
			return true, nil, c.deleteCollection(a.(k8stesting.DeleteCollectionAction))
		}
		return false, nil, nil
	})
	return c
}

// eventTracker is the object tracker with its watch events delivered
// through deep per-watcher buffers, in the order of the writes.
type eventTracker struct {
	k8stesting.ObjectTracker
	mu       sync.Mutex
	watchers []*bufWatcher
	onCreate func(k8sruntime.Object)
}

type bufWatcher struct {
	gvr     schema.GroupVersionResource
	ns      string
	mu      sync.Mutex
	ch      chan watch.Event
	stopped bool
}

func (w *bufWatcher) ResultChan() <-chan watch.Event { return w.ch }

func (w *bufWatcher) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.ch)
	}
}

func (w *bufWatcher) send(e watch.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	select {
	case w.ch <- e:
	default:
		panic("bench: watch buffer full; raise its size")
	}
}

func (t *eventTracker) watch(gvr schema.GroupVersionResource, ns string) watch.Interface {
	w := &bufWatcher{gvr: gvr, ns: ns, ch: make(chan watch.Event, 1<<15)}
	t.mu.Lock()
	t.watchers = append(t.watchers, w)
	t.mu.Unlock()
	return w
}

func (t *eventTracker) emitLocked(typ watch.EventType, gvr schema.GroupVersionResource, ns string, obj k8sruntime.Object) {
	for _, w := range t.watchers {
		if w.gvr == gvr && (w.ns == "" || w.ns == ns) {
			w.send(watch.Event{Type: typ, Object: obj.DeepCopyObject()})
		}
	}
}

func (t *eventTracker) stored(gvr schema.GroupVersionResource, ns string, obj k8sruntime.Object) k8sruntime.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj
	}
	if got, err := t.Get(gvr, ns, m.GetName()); err == nil {
		return got
	}
	return obj
}

func (t *eventTracker) Create(gvr schema.GroupVersionResource, obj k8sruntime.Object, ns string, o ...metav1.CreateOptions) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ObjectTracker.Create(gvr, obj, ns, o...); err != nil {
		return err
	}
	stored := t.stored(gvr, ns, obj)
	t.emitLocked(watch.Added, gvr, ns, stored)
	if t.onCreate != nil {
		t.onCreate(stored)
	}
	return nil
}

func (t *eventTracker) Update(gvr schema.GroupVersionResource, obj k8sruntime.Object, ns string, o ...metav1.UpdateOptions) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ObjectTracker.Update(gvr, obj, ns, o...); err != nil {
		return err
	}
	t.emitLocked(watch.Modified, gvr, ns, t.stored(gvr, ns, obj))
	return nil
}

func (t *eventTracker) Delete(gvr schema.GroupVersionResource, ns, name string, o ...metav1.DeleteOptions) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, err := t.Get(gvr, ns, name)
	if err != nil {
		return err
	}
	if err := t.ObjectTracker.Delete(gvr, ns, name, o...); err != nil {
		return err
	}
	t.emitLocked(watch.Deleted, gvr, ns, old)
	return nil
}

// deleteCollection does what the API server does with gracePeriodSeconds=0.
func (c *cluster) deleteCollection(a k8stesting.DeleteCollectionAction) error {
	sel, err := labels.Parse(a.GetListRestrictions().Labels.String())
	if err != nil {
		return err
	}
	obj, err := c.tracker.List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), a.GetNamespace())
	if err != nil {
		return err
	}
	for _, p := range obj.(*corev1.PodList).Items {
		if sel.Matches(labels.Set(p.Labels)) {
			_ = c.tracker.Delete(podsGVR, p.Namespace, p.Name)
		}
	}
	return nil
}

// kubelet plays the node: it reports the pod Pending, then Running+Ready
// with an IP after the start-up delay. It writes to the tracker directly,
// so its traffic is not counted as the plugin's.
func (c *cluster) kubelet(p *corev1.Pod) {
	ns, name, hostNet := p.Namespace, p.Name, p.Spec.HostNetwork
	idx, _ := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
	start := c.sim.d(c.sim.podStart) + time.Duration((rand.Float64()*2-1)*c.sim.jitter*float64(c.sim.d(c.sim.podStart)))
	c.timers.Add(1)
	time.AfterFunc(c.sim.d(c.sim.pending), func() {
		c.setStatus(ns, name, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: launch.Container,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		})
		time.AfterFunc(start-c.sim.d(c.sim.pending), func() {
			defer c.timers.Done()
			c.setStatus(ns, name, func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = podIP(idx)
				if hostNet {
					p.Status.PodIP = nodeIP(idx)
				}
				p.Status.Conditions = []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
					{Type: corev1.PodReady, Status: corev1.ConditionTrue},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: launch.Container, Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			})
		})
	})
}

func (c *cluster) setStatus(ns, name string, f func(*corev1.Pod)) {
	if c.stopped.Load() {
		return
	}
	obj, err := c.tracker.Get(podsGVR, ns, name)
	if err != nil {
		return // deleted meanwhile
	}
	p := obj.(*corev1.Pod).DeepCopy()
	f(p)
	_ = c.tracker.Update(podsGVR, p, ns)
}

// Node i has the /29 10.244.(i/32).(i%32*8) of the cluster's 10.244.0.0/16
// (room for 8,192 nodes: the lab's masquerade rule covers every simulated
// pod); its pod probe gets .5 in it.
func podCIDR(idx int) string { return fmt.Sprintf("10.244.%d.%d/29", idx/32, idx%32*8) }
func podIP(idx int) string   { return fmt.Sprintf("10.244.%d.%d", idx/32, idx%32*8+5) }
func nodeIP(idx int) string  { return fmt.Sprintf("198.18.%d.%d", idx/200, 11+idx%200) }

// counts sums the plugin's API calls.
func (c *cluster) counts() (total int, by map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	by = map[string]int{}
	for k, v := range c.calls {
		by[k] = v
		total += v
	}
	return total, by
}

// wait spends one API round trip (after the client-side rate limiter).
func (c *cluster) wait(ctx context.Context, d time.Duration) error {
	if c.rl != nil {
		if err := c.rl.Wait(ctx); err != nil {
			return err
		}
	}
	return sleep(ctx, c.sim.d(d))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// The client the plugin sees: the fake clientset behind a delay per call.

type slowClient struct {
	*fake.Clientset
	c *cluster
}

func (s slowClient) CoreV1() corev1client.CoreV1Interface {
	return slowCore{s.Clientset.CoreV1(), s.c}
}

type slowCore struct {
	corev1client.CoreV1Interface
	c *cluster
}

func (s slowCore) Pods(ns string) corev1client.PodInterface {
	return slowPods{s.CoreV1Interface.Pods(ns), s.c}
}

type slowPods struct {
	corev1client.PodInterface
	c *cluster
}

func (p slowPods) Create(ctx context.Context, pod *corev1.Pod, o metav1.CreateOptions) (*corev1.Pod, error) {
	if err := p.c.wait(ctx, p.c.sim.create); err != nil {
		return nil, err
	}
	return p.PodInterface.Create(ctx, pod, o)
}

func (p slowPods) Get(ctx context.Context, name string, o metav1.GetOptions) (*corev1.Pod, error) {
	if err := p.c.wait(ctx, p.c.sim.get); err != nil {
		return nil, err
	}
	return p.PodInterface.Get(ctx, name, o)
}

func (p slowPods) List(ctx context.Context, o metav1.ListOptions) (*corev1.PodList, error) {
	if err := p.c.wait(ctx, p.c.sim.list); err != nil {
		return nil, err
	}
	return p.PodInterface.List(ctx, o)
}

func (p slowPods) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	if err := p.c.wait(ctx, p.c.sim.watch); err != nil {
		return nil, err
	}
	return p.PodInterface.Watch(ctx, o)
}

func (p slowPods) Delete(ctx context.Context, name string, o metav1.DeleteOptions) error {
	if err := p.c.wait(ctx, p.c.sim.del); err != nil {
		return err
	}
	return p.PodInterface.Delete(ctx, name, o)
}

func (p slowPods) DeleteCollection(ctx context.Context, o metav1.DeleteOptions, lo metav1.ListOptions) error {
	if err := p.c.wait(ctx, p.c.sim.deleteCollection); err != nil {
		return err
	}
	return p.PodInterface.DeleteCollection(ctx, o, lo)
}

var _ kubernetes.Interface = slowClient{}

// Captured outputs the fake exec answers with.
type outputs struct {
	ping, routeTable, routeGet, nft, legacy string
	// labFacts is a whole fact read of a lab node, rules trimmed on the
	// node as every node's are: its size does not depend on how many
	// Services the cluster has (pkg/probe's filter tests show that).
	labFacts string
}

func loadOutputs(tb testing.TB) outputs {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	return outputs{
		ping:       strings.ReplaceAll(read("../probe/testdata/ping-ok.stdout"), "198.18.5.2", "198.19.0.1"),
		routeTable: read("../facts/testdata/route-table.busybox.txt"),
		routeGet:   read("../facts/testdata/routeget-specific.busybox.txt"),
		nft:        read("../facts/testdata/kubeproxy-masq.nft.txt"),
		legacy:     read("../facts/testdata/empty.legacy.txt"),
		labFacts:   read("../probe/testdata/facts-script.node1-filtered.out"),
	}
}

// fakeExec answers each argv the probes send with captured output, after
// the exec round trip (and, for ping, the command's own time).
type fakeExec struct {
	c   *cluster
	out outputs
	// facts in flight now, and the most seen at once
	factsNow, factsMax atomic.Int32
}

func (f *fakeExec) Exec(ctx context.Context, ns, pod, container string, argv []string) podexec.Result {
	f.c.execs.Add(1)
	d := f.c.sim.exec
	var r podexec.Result
	tool := argv[0]
	if tool == "nsenter" && len(argv) > 5 {
		tool = argv[5]
	}
	switch tool {
	case "sh": // the one-exec fact reader: sh -c SCRIPT netcheck-facts MODE POD-IP TARGET... -- FILTER...
		d += f.c.sim.script
		for now, max := f.factsNow.Add(1), f.factsMax.Load(); now > max && !f.factsMax.CompareAndSwap(max, now); max = f.factsMax.Load() {
		}
		defer f.factsNow.Add(-1)
		targets := argv[6:]
		for i, a := range targets {
			if a == "--" {
				targets = targets[:i]
				break
			}
		}
		if argv[4] == "routes" {
			r = podexec.Result{Stdout: f.routesOutput(argv[5], targets)}
		} else {
			r = podexec.Result{Stdout: f.out.labFacts}
		}
	case "ping":
		d += pingTime(argv, f.c.sim.rtt)
		r = podexec.Result{Stdout: f.out.ping}
	case "nc": // a peer's closed port: the kernel's RST
		r = podexec.Result{ExitCode: 1, Stderr: "nc: can't connect to remote host (" + argv[len(argv)-2] + "): Connection refused\n"}
	case "grep":
		if argv[len(argv)-1] == "/proc/net/nf_conntrack" {
			src := strings.TrimSuffix(strings.TrimPrefix(argv[3], "src="), " ")
			r = podexec.Result{Stdout: "ipv4     2 icmp     1 29 src=" + src + " dst=198.19.0.1 type=8 code=0 id=5 src=198.19.0.1 dst=198.18.0.11 type=0 code=0 id=5 mark=0 zone=0 use=2\n"}
		} else {
			r = podexec.Result{Stdout: "/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/bridge/bridge-nf-call-iptables:1\n/proc/sys/net/ipv6/conf/all/forwarding:0\n"}
		}
	case "ip":
		switch {
		case len(argv) == 3: // ip route show
			r = podexec.Result{Stdout: f.out.routeTable}
		case len(argv) > 4 && argv[4] == "from": // the pod's packet
			r = podexec.Result{Stdout: argv[3] + " from " + argv[5] + " via 198.18.0.100 dev vr0 \n    iif " + argv[7] + " \n"}
		case strings.HasPrefix(argv[3], "10.244."): // the pod's interface
			r = podexec.Result{Stdout: argv[3] + " dev cni0  src 10.244.0.1 \n"}
		default:
			r = podexec.Result{Stdout: f.out.routeGet}
		}
	case "iptables-nft-save":
		r = podexec.Result{Stdout: f.out.nft}
	case "iptables-legacy-save":
		r = podexec.Result{Stdout: f.out.legacy}
	default:
		r = podexec.Result{ExitCode: 127, Stderr: tool + ": applet not found"}
	}
	if err := sleep(ctx, f.c.sim.d(d)); err != nil {
		return podexec.Result{ExitCode: -1, Err: err}
	}
	return r
}

// factsOutput is what pkg/probe's fact script prints on a healthy node:
// one "@@name" … "@@rc N" section per read.
// routesOutput is the fact script's routes-only read: the pod's device
// and each target's route, from the node and from the pod.
func (f *fakeExec) routesOutput(podIP string, targets []string) string {
	var b strings.Builder
	sec := func(name, body string) {
		b.WriteString("@@" + name + "\n" + body)
		if body != "" && !strings.HasSuffix(body, "\n") {
			b.WriteString("\n")
		}
		b.WriteString("@@rc 0\n")
	}
	if podIP != "" {
		sec("poddev", podIP+" dev cni0  src 10.244.0.1 \n")
	}
	for _, t := range targets {
		sec("get "+t, strings.ReplaceAll(f.out.routeGet, "198.19.0.1", t))
		if podIP != "" {
			sec("podget "+t, t+" from "+podIP+" via 198.18.0.100 dev vr0 \n    iif cni0 \n")
		}
	}
	return b.String()
}

// pingTime is how long busybox ping -c C [-i I] runs against a host that
// answers: C-1 intervals (1 s unless -i) plus one round trip.
func pingTime(argv []string, rtt time.Duration) time.Duration {
	count, interval := 1, time.Second
	for i := 0; i+1 < len(argv); i++ {
		switch argv[i] {
		case "-c":
			count, _ = strconv.Atoi(argv[i+1])
		case "-i":
			if v, err := strconv.ParseFloat(argv[i+1], 64); err == nil {
				interval = time.Duration(v * float64(time.Second))
			}
		}
	}
	return time.Duration(max(count-1, 0))*interval + rtt
}

func simNodes(n int) []corev1.Node {
	out := make([]corev1.Node, n)
	for i := range out {
		out[i] = corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%04d", i)},
			Spec:       corev1.NodeSpec{PodCIDRs: []string{podCIDR(i)}},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP(i)}}},
		}
	}
	return out
}

// result is one simulated run.
type result struct {
	nodes                      int
	start                      time.Time
	wall, firstReady, fanout   time.Duration
	cleanup                    time.Duration
	lastCreated                time.Duration // every pod created (the last Create returned)
	lastReady                  time.Duration // every node's two pods Ready (the last "probing")
	probeP50, probeMax         time.Duration // per node: "probing" → "done"
	apiCalls, execs, cleanedUp int
	byVerb                     map[string]int
	obs                        []observe.Node
	left                       int
	cleanupErr                 error
	factsAtOnce                int // the most fact reads in flight at once
}

// runOnce does what `kubectl netcheck external 198.19.0.1` does after node
// selection: Start the launcher, fan out, Cleanup.
// runOnce runs one fan-out; with peers > 0 it is the `pods` shape: no
// target checks, each pod checks `peers` others once all are up.
func runOnce(tb testing.TB, s sim, n int, out outputs, peers ...int) result {
	return runWith(tb, s, n, out, nil, peers...)
}

// runWith is runOnce with the Config changed by tweak first.
func runWith(tb testing.TB, s sim, n int, out outputs, tweak func(*fanout.Config), peers ...int) result {
	c := newCluster(s)
	defer func() {
		c.stopped.Store(true)
		c.timers.Wait()
	}()
	r := fanOut(tb, slowClient{c.fake, c}, "default", &fakeExec{c: c, out: out}, n, tweak, peers...)
	r.apiCalls, r.byVerb = c.counts()
	r.lastCreated = time.Duration(c.createdAt.Load() - r.start.UnixNano())
	left, _ := c.tracker.List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), "default")
	r.left = len(left.(*corev1.PodList).Items)
	return r
}

// fanOut is one run on any API server: Start the launcher, fan out with fx
// as the exec, Cleanup. The caller fills in what only its server can tell
// (API calls, pods left).
func fanOut(tb testing.TB, client kubernetes.Interface, ns string, fx *fakeExec, n int, tweak func(*fanout.Config), peers ...int) result {
	c := fx.c
	l := &launch.Launcher{Client: client, Opts: launch.PodOptions{
		Namespace: ns, RunID: "bench1", Image: "busybox:1.36", Lifetime: 3 * time.Minute, CreatedBy: "bench",
	}}
	targets, err := plan.Targets([]string{"198.19.0.1"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Each node's steps, from fanout's progress callback.
	var pmu sync.Mutex
	probing := map[string]time.Time{}
	var lastReady time.Time
	var probeTimes []time.Duration
	progress := func(node, step string) {
		now := time.Now()
		pmu.Lock()
		defer pmu.Unlock()
		switch step {
		case "probing":
			probing[node] = now
			if now.After(lastReady) {
				lastReady = now
			}
		case "done":
			probeTimes = append(probeTimes, now.Sub(probing[node]))
		}
	}
	start := time.Now()
	c.createdAt.Store(start.UnixNano())
	if err := l.Start(ctx, time.Minute); err != nil {
		tb.Fatal(err)
	}
	cfg := fanout.Config{
		Launcher: l, Exec: fx, Plan: fanout.Plan{Reach: targets},
		ProbeTimeout: 3 * time.Second, StartTimeout: 60 * time.Second, Progress: progress,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if len(peers) > 0 && peers[0] > 0 {
		k := peers[0]
		cfg.Plan = fanout.Plan{Consider: targets}
		cfg.Plan.PeerSpecs = func(self fanout.Peer, ps []fanout.Peer) []probe.Spec {
			var specs []probe.Spec
			for _, p := range fanout.RingPeers(self.Node, ps, k) {
				specs = append(specs,
					probe.Spec{Kind: observe.Ping, ID: observe.NewCheckID(observe.RolePeer, "", 0).Concerning(p.Node), Argv: probe.PingArgv(p.PodIP, 3*time.Second), Classify: probe.ClassifyPing},
					probe.Spec{Kind: observe.TCP, ID: observe.NewCheckID(observe.RolePeer, "", 0).Concerning(p.Node), Argv: probe.TCPArgv(p.PodIP, 9, 3*time.Second), Classify: probe.ClassifyTCP})
			}
			return specs
		}
	}
	obs, timing, err := fanout.Run(ctx, cfg, simNodes(n))
	if err != nil {
		tb.Fatal(err)
	}
	// NETCHECK_BENCH_HEAPPROFILE=F: what is live once every node is done
	// (F.<nodes>; go tool pprof -sample_index=inuse_space).
	if f := os.Getenv("NETCHECK_BENCH_HEAPPROFILE"); f != "" {
		writeHeapProfile(tb, fmt.Sprintf("%s.%d", f, n))
	}
	cstart := time.Now()
	// The timeout pkg/cmd gives Cleanup. A failure is a result (pods-left),
	// not a harness error.
	cleaned, cerr := l.Cleanup(context.Background(), launch.CleanupTimeout(n))
	end := time.Now()
	l.Stop()
	r := result{nodes: n, start: start, wall: end.Sub(start), firstReady: timing.FirstReady, fanout: timing.Total,
		cleanup: end.Sub(cstart), execs: int(c.execs.Load()), cleanedUp: cleaned, obs: obs, cleanupErr: cerr,
		factsAtOnce: int(fx.factsMax.Load())}
	r.lastReady = lastReady.Sub(start)
	sort.Slice(probeTimes, func(i, j int) bool { return probeTimes[i] < probeTimes[j] })
	if len(probeTimes) > 0 {
		r.probeP50, r.probeMax = probeTimes[len(probeTimes)/2], probeTimes[len(probeTimes)-1]
	}
	return r
}

// memPeak samples the heap while a run goes (runtime/metrics: no
// stop-the-world) and reads the process's peak RSS (VmHWM, reset first).
type memPeak struct {
	stop     chan struct{}
	done     chan struct{}
	peakHeap uint64
	// Goroutine stacks are memory beyond the heap: one or more goroutines
	// per node, each stack as deep as client-go's calls made it.
	peakStacks, peakGoroutines uint64
	rssReset                   bool
	// NETCHECK_BENCH_GOROUTINEPROFILE=F: the goroutines, grouped by stack,
	// at (about) their peak count, written by end.
	goroutineProfile string
	atPeak           bytes.Buffer
	snapAt           uint64
	sampleSet        []metrics.Sample
}

func startMem() *memPeak {
	runtime.GC()
	debug.FreeOSMemory()
	m := &memPeak{stop: make(chan struct{}), done: make(chan struct{}),
		goroutineProfile: os.Getenv("NETCHECK_BENCH_GOROUTINEPROFILE"),
		sampleSet: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/goroutines:goroutines"}}}
	// "5" resets the peak RSS (Linux ≥ 4.0); where that fails, VmHWM is the
	// process's peak so far and only an upper bound.
	m.rssReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	go func() {
		defer close(m.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(m.sampleSet)
			if v := m.sampleSet[0].Value.Uint64(); v > m.peakHeap {
				m.peakHeap = v
			}
			m.peakStacks = max(m.peakStacks, m.sampleSet[1].Value.Uint64())
			if g := m.sampleSet[2].Value.Uint64(); g > m.peakGoroutines {
				// A snapshot stops the world: only at 2 % more than the last one.
				if m.goroutineProfile != "" && g > m.snapAt*51/50 {
					m.atPeak.Reset()
					_ = pprof.Lookup("goroutine").WriteTo(&m.atPeak, 1)
					m.snapAt = g
				}
				m.peakGoroutines = g
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memPeak) end() (heapMB, rssMB float64) {
	close(m.stop)
	<-m.done
	if m.goroutineProfile != "" && m.atPeak.Len() > 0 {
		_ = os.WriteFile(m.goroutineProfile, m.atPeak.Bytes(), 0o644)
	}
	return float64(m.peakHeap) / (1 << 20), float64(vmHWM()) / (1 << 20)
}

func writeHeapProfile(tb testing.TB, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}

func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchScale() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("NETCHECK_BENCH_SCALE"), 64); err == nil && v > 0 {
		return v
	}
	return 0.25
}

func benchNodes() []int {
	sizes := []int{3, 30, 300, 1000}
	if v := os.Getenv("NETCHECK_BENCH_NODES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkFanout: qps=off isolates the orchestration code; qps=sized adds
// the client-side limiter the plugin ships with (sized to the run:
// qps max(50, 2N), burst max(100, 2N+50)); qps=50 is the old fixed default
// (--qps 50 --burst 100), kept to show what sizing buys.
func BenchmarkFanout(b *testing.B) {
	out := loadOutputs(b)
	scale := benchScale()
	for _, limit := range []struct {
		name  string
		qps   float32
		burst int
	}{{"qps=off", 0, 0}, {"qps=sized", -1, -1}, {"qps=50", 50, 100}} {
		for _, n := range benchNodes() {
			b.Run(fmt.Sprintf("%s/nodes=%d", limit.name, n), func(b *testing.B) {
				s := realistic(scale)
				s.qps, s.burst = limit.qps, limit.burst
				if limit.qps < 0 { // what pkg/cmd sizeClient sets
					s.qps, s.burst = float32(max(50, 2*n)), max(100, 2*n+50)
				}
				// NETCHECK_BENCH_DELETECOLLECTION=refused: a role without
				// deletecollection, so Cleanup deletes one pod at a time.
				s.serverDeleteCollection = os.Getenv("NETCHECK_BENCH_DELETECOLLECTION") != "refused"
				var wall, first, cleanup, cpu, created, ready, p50, pmax time.Duration
				var calls, execs, left int
				var heap, rss float64
				for i := 0; i < b.N; i++ {
					m := startMem()
					cpu0 := cpuTime()
					r := runOnce(b, s, n, out)
					cpu += cpuTime() - cpu0
					h, rs := m.end()
					heap, rss = max(heap, h), max(rss, rs)
					left += r.left
					if r.cleanupErr != nil {
						b.Logf("Cleanup: %.300s", r.cleanupErr)
					}
					for _, o := range r.obs {
						if o.Err != "" || o.Pod.Err != "" || o.Host.Err != "" {
							b.Fatalf("node %s: %s %s %s", o.Name, o.Err, o.Pod.Err, o.Host.Err)
						}
					}
					wall += r.wall
					first += r.firstReady
					created += r.lastCreated
					ready += r.lastReady
					p50 += r.probeP50
					pmax += r.probeMax
					cleanup += r.cleanup
					calls += r.apiCalls
					execs += r.execs
				}
				per := float64(b.N)
				b.ReportMetric(wall.Seconds()/per, "wall-s")
				b.ReportMetric(first.Seconds()/per, "first-ready-s")
				b.ReportMetric(created.Seconds()/per, "all-created-s")
				b.ReportMetric(ready.Seconds()/per, "all-ready-s")
				b.ReportMetric(p50.Seconds()/per, "probe-p50-s")
				b.ReportMetric(pmax.Seconds()/per, "probe-max-s")
				b.ReportMetric(cleanup.Seconds()/per, "cleanup-s")
				b.ReportMetric(float64(calls)/per/float64(n), "api-req/node")
				b.ReportMetric(float64(execs)/per/float64(n), "exec/node")
				b.ReportMetric(cpu.Seconds()/per, "cpu-s")
				b.ReportMetric(float64(left)/per, "pods-left")
				b.ReportMetric(heap, "peak-heap-MB")
				b.ReportMetric(rss, "peak-rss-MB")
				b.ReportMetric(scale, "scale")
			})
		}
	}
}

// BenchmarkFakeAPIServer is the harness's own floor: the 2 pods per node
// created concurrently through the same simulated client, kubelet and fake
// clientset, with no launcher, informer or fan-out. What BenchmarkFanout's
// all-created-s has above this is the plugin's.
func BenchmarkFakeAPIServer(b *testing.B) {
	scale := benchScale()
	for _, n := range benchNodes() {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var total time.Duration
			var heap, rss float64
			for i := 0; i < b.N; i++ {
				m := startMem()
				c := newCluster(realistic(scale))
				pods := slowClient{c.fake, c}.CoreV1().Pods("default")
				o := launch.PodOptions{Namespace: "default", RunID: "floor1", Image: "busybox:1.36", Lifetime: time.Minute}
				start := time.Now()
				var wg sync.WaitGroup
				for j := 0; j < n; j++ {
					for _, p := range []*corev1.Pod{launch.PodProbe(o, "n", j), launch.NodeProbe(o, "n", j)} {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if _, err := pods.Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
								b.Error(err)
							}
						}()
					}
				}
				wg.Wait()
				total += time.Since(start)
				// Every pod Ready, as in a run: the store at its fullest.
				c.timers.Wait()
				h, rs := m.end()
				heap, rss = max(heap, h), max(rss, rs)
				c.stopped.Store(true)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "all-created-s")
			// The fake server's own memory (store, action log, kubelet): what
			// BenchmarkFanout's peak-heap-MB has above this is the plugin's.
			b.ReportMetric(heap, "peak-heap-MB")
			b.ReportMetric(rss, "peak-rss-MB")
			b.ReportMetric(scale, "scale")
		})
	}
}

// TestAPIRequestsPerNode: the plugin's API calls (create, get, list,
// watch, delete, delete-collection; execs apart) at 30 nodes stay within 6
// per node, whether or not the server honours deletecollection. Counts are
// deterministic; no wall time is asserted.
func TestAPIRequestsPerNode(t *testing.T) {
	out := loadOutputs(t)
	const n = 30
	for _, dc := range []bool{true, false} {
		t.Run(fmt.Sprintf("deletecollection=%v", dc), func(t *testing.T) {
			s := realistic(0.01) // 8 ms pod start, 20 ms ping: the counts do not depend on time
			s.serverDeleteCollection = dc
			r := runOnce(t, s, n, out)
			verbs := make([]string, 0, len(r.byVerb))
			for k := range r.byVerb {
				verbs = append(verbs, k)
			}
			sort.Strings(verbs)
			var desc []string
			counted := 0
			for _, k := range verbs {
				desc = append(desc, fmt.Sprintf("%s=%d", k, r.byVerb[k]))
				switch strings.Fields(k)[0] {
				case "create", "get", "list", "watch", "delete", "delete-collection":
					counted += r.byVerb[k]
				}
			}
			t.Logf("%d nodes: %s; %d execs", n, strings.Join(desc, " "), r.execs)
			if counted != r.apiCalls {
				t.Errorf("unexpected verbs: %s", strings.Join(desc, " "))
			}
			if per := float64(counted) / n; per > 6 {
				t.Errorf("%.2f API requests per node (%s), want ≤ 6", per, strings.Join(desc, " "))
			}
			if got := r.byVerb["create pods"]; got != 2*n {
				t.Errorf("create pods = %d, want %d (two probe pods per node)", got, 2*n)
			}
			if w, l := r.byVerb["watch pods"], r.byVerb["list pods"]; w != 1 || l > 2 {
				t.Errorf("watch=%d list=%d: want one informer per run (1 watch, 1 list + 1 for Cleanup)", w, l)
			}
			if r.left != 0 || r.cleanedUp != 2*n || r.cleanupErr != nil {
				t.Errorf("cleanup: %d pods left, %d reported deleted, %v", r.left, r.cleanedUp, r.cleanupErr)
			}
			targets, _ := plan.Targets([]string{"198.19.0.1"}, nil)
			var cidrs []string
			for _, nd := range simNodes(n) {
				cidrs = append(cidrs, nd.Spec.PodCIDRs...)
			}
			if fs := diagnose.External(diagnose.ExternalInput{Targets: targets, Nodes: r.obs, Cluster: observe.Cluster{PodCIDRs: cidrs}}); diagnose.HasProblems(fs) {
				t.Errorf("the simulated cluster is healthy, the diagnosis says: %+v", fs)
			}
			for _, o := range r.obs {
				if o.Err != "" || len(o.Pod.Checks) == 0 || len(o.Host.Checks) == 0 || o.Pod.Checks[0].Outcome != observe.OK {
					t.Fatalf("node %s not probed as expected: %+v", o.Name, o)
				}
				// The fake exec's output must read as a real node's would.
				f := o.Facts
				if f.IPForward != observe.Yes || !f.RulesRead || f.PodDev != "cni0" || len(f.Targets) != 1 ||
					f.Targets[0].NodeRoute.Dev != "vr0" || f.Targets[0].PodRoute == nil || len(f.Targets[0].Conntrack) != 1 ||
					f.Targets[0].NAT.Result != observe.Yes || f.Targets[0].Forward.Result != observe.Yes {
					t.Fatalf("node %s facts: %+v", o.Name, f)
				}
			}
		})
	}
}

// Fact reads wait for a slot: no more than FactReads are in flight, and
// every node is still read and judged.
func TestFactReadsAreBounded(t *testing.T) {
	out := loadOutputs(t)
	const n = 24
	s := realistic(0.2) // 6 ms of script per read: enough for the reads to overlap
	free := runOnce(t, s, n, out)
	bounded := runWith(t, s, n, out, func(c *fanout.Config) { c.FactReads = 3 })
	if free.factsAtOnce <= 3 {
		t.Fatalf("without a bound only %d reads overlapped: the test cannot see the bound", free.factsAtOnce)
	}
	if bounded.factsAtOnce > 3 || bounded.factsAtOnce == 0 {
		t.Errorf("FactReads=3: %d reads at once", bounded.factsAtOnce)
	}
	for _, o := range bounded.obs {
		if !o.Facts.RulesRead || o.Facts.IPForward != observe.Yes {
			t.Errorf("node %s facts not read under the bound: %+v", o.Name, o.Facts)
		}
	}
}

// BenchmarkPeers is the `pods` shape: every pod probe waits for all the
// others, then pings and connects to 10 of them. Its time must stay flat
// too: the barrier is one pod start, and the checks per node are bounded
// by --peers, not by the node count.
func BenchmarkPeers(b *testing.B) {
	out := loadOutputs(b)
	for _, n := range benchNodes() {
		b.Run(fmt.Sprintf("peers=10/nodes=%d", n), func(b *testing.B) {
			s := realistic(benchScale())
			s.qps, s.burst = float32(max(50, 2*n)), max(100, 2*n+50)
			s.serverDeleteCollection = true
			var wall time.Duration
			var execs int
			for i := 0; i < b.N; i++ {
				r := runOnce(b, s, n, out, 10)
				for _, o := range r.obs {
					if o.Err != "" || o.Pod.Err != "" || len(o.Pod.Checks) != 2*min(10, n-1) {
						b.Fatalf("node %s: %s %s, %d peer checks", o.Name, o.Err, o.Pod.Err, len(o.Pod.Checks))
					}
				}
				if r.left != 0 {
					b.Fatalf("%d pods left", r.left)
				}
				wall += r.wall
				execs += r.execs
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
			b.ReportMetric(float64(execs)/float64(b.N*n), "exec/node")
		})
	}
}
