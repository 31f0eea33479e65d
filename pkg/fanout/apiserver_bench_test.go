package fanout_test

// The same run against a real kube-apiserver and etcd in their own
// processes, so that this process's memory is the plugin's alone (plus the
// simulated exec's canned answers). scripts/bench-apiserver.sh starts the
// server, sets NETCHECK_BENCH_KUBECONFIG and runs:
//
//	go test -bench BenchmarkFanoutAPIServer -run '^$' -benchtime 1x ./pkg/fanout/
//
// The kubelet is simulated in a child process (this test binary again, as
// TestSimKubelet): it marks each probe pod Running and Ready with an IP
// after the lab's start-up delay, and finishes deletes as a kubelet does.

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
)

const benchNamespace = "netcheck-bench"

func serverConfig(tb testing.TB, qps float32, burst int) *rest.Config {
	path := os.Getenv("NETCHECK_BENCH_KUBECONFIG")
	if path == "" {
		tb.Skip("NETCHECK_BENCH_KUBECONFIG unset: scripts/bench-apiserver.sh starts a kube-apiserver and sets it")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.QPS, cfg.Burst = qps, burst
	return cfg
}

// countingTransport counts every request the plugin's client sends.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

func BenchmarkFanoutAPIServer(b *testing.B) {
	out := loadOutputs(b)
	s := realistic(benchScale())
	for _, n := range benchNodes() {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			// What pkg/cmd sizeClient sets.
			cfg := serverConfig(b, float32(max(50, 2*n)), max(100, 2*n+50))
			var calls atomic.Int64
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &calls} })
			cs := kubernetes.NewForConfigOrDie(cfg)
			ensureNamespace(b, cs)
			stop := startKubelet(b, s)
			defer stop()
			var wall, first, ready, cleanup, cpu time.Duration
			var execs, left, nodeErrs int
			var heap, rss, stacks, goroutines float64
			for i := 0; i < b.N; i++ {
				waitEmpty(b, cs)
				calls.Store(0)
				m := startMem()
				cpu0 := cpuTime()
				fx := &fakeExec{c: &cluster{sim: s}, out: out}
				// A real API server and etcd on the same 2 cores take minutes
				// to store 5,000 nodes' pods and their status: the start
				// timeout is not what is measured here.
				r := fanOut(b, cs, benchNamespace, fx, n, func(c *fanout.Config) { c.StartTimeout = 10 * time.Minute })
				cpu += cpuTime() - cpu0
				h, rs := m.end()
				heap, rss = max(heap, h), max(rss, rs)
				stacks, goroutines = max(stacks, float64(m.peakStacks)/(1<<20)), max(goroutines, float64(m.peakGoroutines))
				// A server this loaded may time a create out: such a node
				// is counted (and its first error shown), not fatal.
				for _, o := range r.obs {
					if o.Err != "" || o.Pod.Err != "" || o.Host.Err != "" {
						if nodeErrs++; nodeErrs == 1 {
							fmt.Fprintf(os.Stderr, "node %s: %s %s %s\n", o.Name, o.Err, o.Pod.Err, o.Host.Err)
						}
					}
				}
				if r.cleanupErr != nil {
					fmt.Fprintf(os.Stderr, "Cleanup: %.500s\n", r.cleanupErr)
				}
				fmt.Fprintf(os.Stderr, "nodes=%d: Cleanup deleted %d in %s\n", n, r.cleanedUp, r.cleanup.Round(time.Millisecond))
				wall += r.wall
				first += r.firstReady
				ready += r.lastReady
				cleanup += r.cleanup
				execs += r.execs
				left += waitEmpty(b, cs)
			}
			per := float64(b.N)
			b.ReportMetric(wall.Seconds()/per, "wall-s")
			b.ReportMetric(first.Seconds()/per, "first-ready-s")
			b.ReportMetric(ready.Seconds()/per, "all-ready-s")
			b.ReportMetric(cleanup.Seconds()/per, "cleanup-s")
			// Requests of the last run (the namespace check and the waits
			// for an empty namespace are not counted).
			b.ReportMetric(float64(calls.Load())/float64(n), "api-req/node")
			b.ReportMetric(float64(execs)/per/float64(n), "exec/node")
			b.ReportMetric(cpu.Seconds()/per, "cpu-s")
			b.ReportMetric(float64(left)/per, "pods-left")
			b.ReportMetric(float64(nodeErrs)/per, "node-errors")
			b.ReportMetric(heap, "peak-heap-MB")
			b.ReportMetric(rss, "peak-rss-MB")
			b.ReportMetric(stacks, "peak-stacks-MB")
			b.ReportMetric(goroutines, "peak-goroutines")
			b.ReportMetric(s.scale, "scale")
		})
	}
}

func ensureNamespace(tb testing.TB, cs kubernetes.Interface) {
	_, err := cs.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
}

// waitEmpty says how many of the run's pods were still there and not
// being deleted (what Cleanup left), removes them, and waits until the
// simulated kubelet has finished every delete.
func waitEmpty(tb testing.TB, cs kubernetes.Interface) int {
	ctx := context.Background()
	pods := cs.CoreV1().Pods(benchNamespace)
	first := -1
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		if first < 0 {
			first = 0
			for _, p := range l.Items {
				if p.DeletionTimestamp == nil {
					first++
				}
			}
			if first > 0 {
				fmt.Fprintf(os.Stderr, "%d pods left after the run; the harness deletes them\n", first)
				_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
			}
		}
		if len(l.Items) == 0 {
			return first
		}
	}
	tb.Fatal("pods still in " + benchNamespace + " after 5 min")
	return 0
}

// startKubelet runs TestSimKubelet in a child process until stop.
func startKubelet(tb testing.TB, s sim) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSimKubelet$", "-test.v")
	cmd.Env = append(os.Environ(), "NETCHECK_SIM_KUBELET=1", "NETCHECK_BENCH_SCALE="+strconv.FormatFloat(s.scale, 'g', -1, 64))
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	// It says "watching" once its watch is open.
	sc := bufio.NewScanner(outp)
	for sc.Scan() && !strings.Contains(sc.Text(), "watching") {
	}
	go func() {
		for sc.Scan() {
			if t := sc.Text(); strings.Contains(t, "FAIL") || strings.Contains(t, "kubelet:") {
				fmt.Fprintln(os.Stderr, t)
			}
		}
	}()
	return func() {
		_ = in.Close() // its signal to stop
		_ = cmd.Wait()
	}
}

// TestSimKubelet is the benchmark's kubelet (only when started by it): for
// every probe pod, Pending after the sim's pending delay, then Running and
// Ready with an address after its start-up delay; a pod being deleted is
// removed at once, as a kubelet does when the container is gone.
func TestSimKubelet(t *testing.T) {
	if os.Getenv("NETCHECK_SIM_KUBELET") == "" {
		t.Skip("the API-server benchmark's kubelet process")
	}
	s := realistic(benchScale())
	cfg := serverConfig(t, 5000, 5000)
	cs := kubernetes.NewForConfigOrDie(cfg)
	pods := cs.CoreV1().Pods(benchNamespace)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // stdin closed: the benchmark is done
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		cancel()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := map[string]bool{}
	status := func(name string, f func(*corev1.Pod)) {
		for try := 0; try < 5; try++ {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return // deleted meanwhile
			}
			if p.DeletionTimestamp != nil {
				return
			}
			f(p)
			// An overloaded server times out; a kubelet tries again.
			if _, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err == nil || ctx.Err() != nil {
				return
			} else if try == 4 {
				fmt.Println("kubelet:", name, err)
			}
			time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
		}
	}
	// The server ends a watch after some minutes: watch again (the pods
	// already seen come again as ADDED and are skipped).
	for said := false; ctx.Err() == nil; {
		w, err := pods.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			if ctx.Err() == nil {
				t.Fatal(err)
			}
			return
		}
		if !said {
			fmt.Println("watching")
			said = true
		}
		s.kubelet(ctx, w, pods, seen, status, &wg)
	}
}

func (s sim) kubelet(ctx context.Context, w watch.Interface, pods corev1client.PodInterface, seen map[string]bool,
	status func(string, func(*corev1.Pod)), wg *sync.WaitGroup) {
	defer w.Stop()
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Error {
			continue
		}
		name := p.Name
		if p.DeletionTimestamp != nil {
			if ev.Type != watch.Deleted {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
				}()
			}
			continue
		}
		if ev.Type != watch.Added || seen[string(p.UID)] {
			continue
		}
		seen[string(p.UID)] = true
		idx, _ := strconv.Atoi(strings.TrimPrefix(p.Spec.NodeName, "node-"))
		hostNet := p.Spec.HostNetwork
		start := s.d(s.podStart) + time.Duration((rand.Float64()*2-1)*s.jitter*float64(s.d(s.podStart)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(s.d(s.pending))
			status(name, func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: launch.Container,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
			})
			time.Sleep(start - s.d(s.pending))
			status(name, func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = podIP(idx)
				if hostNet {
					p.Status.PodIP = nodeIP(idx)
				}
				p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
				p.Status.Conditions = []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
					{Type: corev1.PodReady, Status: corev1.ConditionTrue},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: launch.Container, Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			})
		}()
	}
}
