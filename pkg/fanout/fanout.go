// Package fanout runs one probe pipeline per node, concurrently: create the
// two probe pods, wait for them, run the checks from both sides, read the
// node's facts. The wall time is one pod start plus one probe timeout,
// whatever the node count; --concurrency only bounds the API load.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// Config is one run: the scenario's plan and the run's plumbing.
type Config struct {
	Launcher     *launch.Launcher
	Exec         podexec.Execer
	Plan         Plan
	Sides        Sides
	ProbeTimeout time.Duration
	StartTimeout time.Duration
	Concurrency  int
	// FactReads bounds the node-fact reads in flight at once (0 =
	// DefaultFactReads): each is an exec stream through the API server and
	// a buffer of up to podexec.MaxOutput in this process.
	FactReads int
	// Progress, when set, is told each node's steps (for a terminal display).
	Progress func(node, step string)
	// Events, when set, is told each node's timeline event as it happens (-v=2).
	Events func(node string, e observe.Event)
	start  time.Time

	factSlots chan struct{}

	roster *roster
}

// Plan is what every node's trip runs, decided by a scenario.
type Plan struct {
	// Reach are contacted from both sides (ping, TCP, HTTP; names are
	// resolved first); their route, FORWARD and NAT decisions are read
	// from the node, and the pod's flows witnessed in conntrack.
	Reach []target.Target
	// Port is also TCP-connected on Reach's address targets (0 = ping only).
	Port int
	// Consider are addresses whose node facts are read and that are never
	// contacted: a node's podCIDR, a documentation address.
	Consider []target.Target
	// PodSpecs are more checks from the pod probe (e.g. DNS queries).
	PodSpecs []probe.Spec
	// NodeSpecs, when set, gives more checks from each node's node probe
	// (e.g. a NodePort on that node's own address).
	NodeSpecs func(n corev1.Node) []probe.Spec
	// Local are addresses on each node its pods send to (NodeLocal
	// DNSCache's): the node's input hook is asked about the pod's packets.
	Local []probe.FactTarget
	// VIPs are Service addresses looked up in each node's proxy rules.
	VIPs []facts.VIP
	// PeerSpecs, when set, gives checks from a node's pod probe (self) to
	// the other nodes' pod probes; they start once every pod probe is up (or
	// failed), so every node is probed at once whatever Concurrency says.
	PeerSpecs func(self Peer, peers []Peer) []probe.Spec
	// As, for the nodes it names, replaces the pod probe by a workload's
	// running pod (--from): the pod-side checks run in its network
	// namespace, entered from the node probe. No pod probe is created there.
	As map[string]Workload
	// Settle is how long each pod probe waits after it is Ready before its
	// checks: NetworkPolicies select it, and their agent applies a new
	// pod's rules asynchronously. Not for --from (the workload's pod is old).
	Settle time.Duration
}

// Sides says which probes each node gets.
type Sides struct {
	// PodOnly: no node probe is launched; Why says why (admission refuses
	// privileged pods) and stands in each node's node-side error.
	PodOnly bool
	Why     string
	// NoRaw, when set, says why the pod probe has no raw socket (a
	// restricted namespace: no NET_RAW): it pings through an unprivileged
	// ICMP socket (netcheck-ping), and its path-MTU probe is not run, saying so.
	NoRaw string
}

// Workload is the user's pod a node's pod-side checks run as.
type Workload struct {
	Pod string   // namespace/name, for the report
	UID string   // validated: finds its sandbox on the node
	IP  string   // its pod IP, parsed
	IPs []string // all its addresses (PodIPs), one per family
	// Ephemeral (--from-ephemeral): the checks run in an ephemeral
	// container added to the pod, for nodes where no node probe may run.
	// It cannot be removed: the command says so.
	Ephemeral bool
}

// split is the pod's namespace and name.
func (w Workload) split() (ns, name string) {
	ns, name, _ = strings.Cut(w.Pod, "/")
	return ns, name
}

// Timing records where the time went, for the report and the benchmark.
type Timing struct {
	FirstReady time.Duration `json:"firstReady"`
	Total      time.Duration `json:"total"`
}

// FactsBound bounds the reading of a node's facts.
const FactsBound = 20 * time.Second

// DefaultFactReads is how many nodes' facts are read at once. A read
// takes about 1.7 s on a lab node, so 256 at once hold 5000 nodes' reads to
// about 35 s in all, while the memory they can hold stays bounded.
const DefaultFactReads = 256

// PhaseBound bounds one check: the tool's own timeout plus the exec's
// overhead, so a hung exec cannot hold the run.
func PhaseBound(probeTimeout time.Duration) time.Duration { return probeTimeout + 10*time.Second }

// Run probes every node and returns one observation per node. It returns
// an error only for faults that stop the whole run (launch.ErrFatal);
// a node that fails alone carries its error in its observation.
func Run(ctx context.Context, cfg Config, nodes []corev1.Node) ([]observe.Node, Timing, error) {
	start := time.Now()
	cfg.start = start
	if cfg.FactReads <= 0 {
		cfg.FactReads = DefaultFactReads
	}
	cfg.factSlots = make(chan struct{}, cfg.FactReads)
	var firstReady sync.Once
	var timing Timing
	out := make([]observe.Node, len(nodes))
	g, gctx := errgroup.WithContext(ctx)
	limit := cfg.Concurrency
	if limit <= 0 || cfg.Plan.PeerSpecs != nil {
		limit = len(nodes)
	}
	if cfg.Plan.PeerSpecs != nil {
		cfg.roster = newRoster(len(nodes))
	}
	g.SetLimit(limit)
	var all []Peer
	for _, n := range nodes {
		all = append(all, Peer{Node: n.Name, PodIP: plan.InternalIP(n)}) // PodIP holds the node's address here
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Node < all[j].Node }) // once, for every node's RingPeers
	// A trip is admitted when it may create its pods: at most
	// creatingTrips are creating at once, which keeps the launcher's
	// creates in flight full without a goroutine (and its stack) per node
	// waiting for a slot — 15,000 of them, 198 MB, at 5,000 nodes.
	admit := make(chan struct{}, creatingTrips)
	for i := range nodes {
		i := i
		admitted := false
		select {
		case admit <- struct{}{}:
			admitted = true
		case <-gctx.Done(): // the trip still runs, and fails at once
		}
		var once sync.Once
		created := func() {
			once.Do(func() {
				if admitted {
					<-admit
				}
			})
		}
		g.Go(func() (err error) {
			defer created()
			// A bug on one node's trip is that node's error, not a crash that
			// would skip the run's cleanup.
			defer func() {
				if r := recover(); r != nil {
					out[i] = observe.Node{Name: nodes[i].Name, Err: fmt.Sprintf("internal error probing this node: %v (please report it)", r)}
					err = nil
				}
			}()
			obs, err := runNode(gctx, cfg, nodes[i], i, overlayPeers(nodes[i].Name, all), func() {
				firstReady.Do(func() { timing.FirstReady = time.Since(start) })
			}, created)
			out[i] = obs
			if errors.Is(err, launch.ErrFatal) {
				return err
			}
			return nil
		})
	}
	err := g.Wait()
	timing.Total = time.Since(start)
	return out, timing, err
}

func (c Config) progress(node, step string) {
	if c.Progress != nil {
		c.Progress(node, step)
	}
}

// trip is one node's way through the run, in named steps:
// both pods created at once; node side: Ready → checks ∥ static facts;
// pod side: Ready → checks ∥ routes with the pod's address; then the
// names' routes ∥ flow witness → assemble.
type trip struct {
	cfg             Config
	tl              *timeline
	n               corev1.Node
	obs             observe.Node
	podPod, nodePod *corev1.Pod
	podErr, nodeErr error
	gather          probe.Gatherer
	literal         []probe.FactTarget
	raw             probe.Raw
	ephemeral       string // the container --from-ephemeral added to the workload pod
	onReady         func()
	// created is called once both sides are past their create (createdOne
	// counts them): the next trip may then create its pods.
	created  func()
	toCreate atomic.Int32
	// early is the routes read with the pod's address, started when the
	// pod is Ready, beside its checks; earlyRaw is nil when it did not run.
	early      sync.WaitGroup
	earlyRaw   *probe.Raw
	readyOnce  sync.Once
	rosterOnce sync.Once
}

// overlayPeers are the nodes whose overlay packets a node's input hook is
// asked about: its ring neighbours, a bounded number whatever the cluster size.
func overlayPeers(self string, all []Peer) []netip.Addr {
	var out []netip.Addr
	for _, p := range RingPeers(self, all, maxOverlayPeers) {
		if a, err := netip.ParseAddr(p.PodIP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// podIP is a pod's address from its status, parsed before it can reach
// any argv ("" when it is not an IP address).
func podIP(p *corev1.Pod) string {
	if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
		return a.String()
	}
	return ""
}

// PodIPs are all of a pod's addresses (status.podIPs: one per family on a
// dual-stack cluster), each parsed, the primary first.
func PodIPs(p *corev1.Pod) []string {
	out := []string{}
	if ip := podIP(p); ip != "" {
		out = append(out, ip)
	}
	for _, pi := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(pi.IP); err == nil && !slices.Contains(out, a.String()) {
			out = append(out, a.String())
		}
	}
	return out
}

// ipOfFamily is the first of ips in the IPv6 family when v6, else IPv4.
func ipOfFamily(ips []string, v6 bool) string {
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() == v6 {
			return ip
		}
	}
	return ""
}

// creatingTrips is how many trips create their pods at once: two creates
// each fill the launcher's bound.
const creatingTrips = launch.CreatesInFlight / 2

// maxOverlayPeers bounds the peers walked through each node's input hook.
const maxOverlayPeers = 8

func runNode(ctx context.Context, cfg Config, n corev1.Node, idx int, peers []netip.Addr, onReady, created func()) (obs observe.Node, err error) {
	tl := &timeline{start: cfg.start, log: cfg.Events, node: n.Name}
	cfg.Exec = timedExec{inner: cfg.Exec, tl: tl}
	tl.mark("start")
	t := &trip{cfg: cfg, tl: tl, n: n, obs: observe.Node{Name: n.Name, IP: plan.InternalIP(n)}, onReady: onReady, created: created}
	defer func() { obs.Timeline = tl.list() }() // after the return copied t.obs
	defer t.toRoster(Peer{})
	factsCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout+PhaseBound(cfg.ProbeTimeout)+FactsBound)
	defer cancel()
	if stop, err := t.sides(ctx, factsCtx, idx); stop {
		return t.obs, err
	}
	tl.mark("both sides checked")
	if t.nodeErr != nil {
		t.obs.Facts.PodCIDRs = n.Spec.PodCIDRs
	} else {
		cfg.progress(n.Name, "reading node facts")
		all := t.routesAndFlows(factsCtx)
		self, _ := netip.ParseAddr(t.obs.IP)
		t.obs.Facts = probe.AssembleFlows(t.raw, probe.Flows{PodIP: t.podIP(false), PodIP6: t.podIP(true), PodCIDRs: n.Spec.PodCIDRs,
			Targets: all, VIPs: cfg.Plan.VIPs, Self: self, Peers: peers, Local: cfg.Plan.Local})
		tl.mark("facts assembled")
	}
	cfg.progress(n.Name, "done")
	return t.obs, nil
}

// podIP is the pod side's address of a family ("" when it has none).
func (t *trip) podIP(v6 bool) string {
	return ipOfFamily(append([]string{t.obs.Pod.IP}, t.obs.Pod.IPs...), v6)
}

// toRoster tells the roster this node's pod addresses (none when it has
// no pod side), once.
func (t *trip) toRoster(p Peer) {
	t.rosterOnce.Do(func() {
		if t.cfg.roster != nil {
			p.Node = t.n.Name
			t.cfg.roster.report(p)
		}
	})
}

// createdOne is told that one side is past its create (or has none).
func (t *trip) createdOne() {
	if t.toCreate.Add(-1) == 0 && t.created != nil {
		t.created()
	}
}

// ready is told that one side of this node is up: the run's first Ready,
// and the node's "probing" step.
func (t *trip) ready() {
	t.readyOnce.Do(func() {
		t.onReady()
		t.cfg.progress(t.n.Name, "probing")
	})
}

// sides creates both probe pods at once, and each side runs its checks as
// soon as its own pod is Ready: the node probe is up about a second before
// the pod probe (no CNI), and the node's rules, routes and sysctls are read
// in that second. stop is true when the trip ends here: a fatal error
// (returned) or no side usable.
func (t *trip) sides(ctx, factsCtx context.Context, idx int) (stop bool, fatal error) {
	cfg, opts := t.cfg, t.cfg.Launcher.Opts
	podPod, nodePod := launch.PodProbe(opts, t.n.Name, idx), launch.NodeProbe(opts, t.n.Name, idx)
	t.obs.Pod.Pod, t.obs.Host.Pod = podPod.Name, nodePod.Name
	t.gather = probe.Gatherer{Exec: cfg.Exec, Namespace: opts.Namespace, Pod: nodePod.Name, Container: launch.Container}
	t.literal, _ = factTargets(cfg, t.obs, true)
	cfg.progress(t.n.Name, "creating probe pods")
	// A fatal error on one side (Forbidden, a wrong image) stops the other.
	tripCtx, stopTrip := context.WithCancel(ctx)
	defer stopTrip()
	startCtx, cancel := context.WithTimeout(tripCtx, cfg.StartTimeout)
	defer cancel()
	nodeUp := make(chan struct{}) // closed when the node side is Ready or failed
	t.toCreate.Store(2)
	defer t.created() // whatever happened, the trip's creates are over
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.nodeSide(tripCtx, startCtx, factsCtx, nodePod, nodeUp)
		if errors.Is(t.nodeErr, launch.ErrFatal) {
			stopTrip()
		}
	}()
	// The pod side runs on the trip's own goroutine: every trip waiting
	// for its pods holds two goroutines (stacks), not three.
	t.podSide(tripCtx, startCtx, factsCtx, podPod, nodeUp)
	if errors.Is(t.podErr, launch.ErrFatal) {
		stopTrip()
	}
	wg.Wait()
	for _, e := range []error{t.podErr, t.nodeErr} {
		if errors.Is(e, launch.ErrFatal) {
			t.obs.Err = e.Error()
			return true, e
		}
	}
	if t.podErr != nil && t.nodeErr != nil {
		t.obs.Err = t.podErr.Error()
		if t.nodeErr.Error() != t.podErr.Error() {
			t.obs.Err += "; " + t.nodeErr.Error()
		}
		t.obs.Pod.Checks, t.obs.Host.Checks = nil, nil
		return true, nil
	}
	if t.podErr != nil {
		t.obs.Pod.Err = t.podErr.Error()
	}
	if t.nodeErr != nil {
		t.obs.Host.Err = t.nodeErr.Error()
	}
	return false, nil
}

// nodeSide starts the node probe, then runs its checks while the node's
// static facts are read: they depend on neither side's checks.
func (t *trip) nodeSide(ctx, startCtx, factsCtx context.Context, nodePod *corev1.Pod, nodeUp chan struct{}) {
	cfg := t.cfg
	func() {
		defer close(nodeUp)
		if cfg.Sides.PodOnly {
			t.createdOne()
			t.nodeErr = errors.New(cfg.Sides.Why)
			return
		}
		t.nodeErr = cfg.Launcher.Create(startCtx, nodePod)
		t.createdOne()
		if t.nodeErr == nil {
			t.tl.mark("node probe created")
			t.nodePod, t.nodeErr = cfg.Launcher.WaitReady(startCtx, nodePod.Name)
			t.tl.mark("node probe ready")
		}
		if t.nodeErr == nil {
			t.obs.Host.IP = podIP(t.nodePod)
		}
	}()
	if t.nodeErr != nil {
		return
	}
	t.ready()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.raw = t.readFacts(factsCtx, probe.FactsQuery{Targets: t.literal, VIPs: cfg.Plan.VIPs})
	}()
	specs := reachSpecs(cfg)
	if cfg.Plan.NodeSpecs != nil {
		specs = append(specs, cfg.Plan.NodeSpecs(t.n)...)
	}
	t.obs.Host.Checks = runChecks(ctx, cfg, cfg.Launcher.Opts.Namespace, t.obs.Host.Pod, launch.Container, specs)
	wg.Wait()
}

// podSide starts the pod probe (or finds the workload's pod for --from)
// and runs the pod-side checks as soon as it is Ready.
func (t *trip) podSide(ctx, startCtx, factsCtx context.Context, podPod *corev1.Pod, nodeUp chan struct{}) {
	cfg, opts, ns := t.cfg, t.cfg.Launcher.Opts, t.cfg.Launcher.Opts.Namespace
	w, as := cfg.Plan.As[t.n.Name]
	switch {
	case as && w.Ephemeral:
		t.obs.Pod.Pod, t.obs.Pod.As = w.Pod, "workload pod "+w.Pod+" (an ephemeral container added to it)"
		wns, name := w.split()
		t.ephemeral, t.podErr = launch.AddEphemeral(startCtx, cfg.Launcher.Client, wns, name, opts)
		t.createdOne()
		if t.podErr != nil {
			t.podErr = fmt.Errorf("--from-ephemeral: %s", launch.StatusMessage(t.podErr))
		}
	case as:
		t.createdOne()
		t.obs.Pod.Pod, t.obs.Pod.As = w.Pod, "workload pod "+w.Pod+" (its network namespace, entered from the node probe)"
		if cfg.Sides.PodOnly {
			t.podErr = errors.New("not run: --from enters the workload's pod from the node probe, which did not run (" + strings.TrimPrefix(cfg.Sides.Why, "not run: ") + ")" +
				"; --from-ephemeral runs the checks in an ephemeral container added to the workload's pod instead (it cannot be removed)")
		}
	default:
		t.podErr = cfg.Launcher.Create(startCtx, podPod)
		t.createdOne()
		if t.podErr == nil {
			t.tl.mark("pod probe created")
			t.podPod, t.podErr = cfg.Launcher.WaitReady(startCtx, podPod.Name)
			t.tl.mark("pod probe ready")
		}
	}
	if t.podErr != nil {
		t.toRoster(Peer{})
		return
	}
	if as {
		t.obs.Pod.IP, t.obs.Pod.IPs = w.IP, w.IPs
	} else {
		t.obs.Pod.IP, t.obs.Pod.IPs = podIP(t.podPod), PodIPs(t.podPod)
	}
	self := Peer{Node: t.n.Name, PodIP: t.obs.Pod.IP, PodIPs: t.obs.Pod.IPs}
	t.toRoster(self)
	t.routesEarly(factsCtx, nodeUp)
	specs := append(reachSpecs(cfg), cfg.Plan.PodSpecs...)
	if cfg.Plan.PeerSpecs != nil {
		waitCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
		specs = append(specs, cfg.Plan.PeerSpecs(self, cfg.roster.wait(waitCtx))...)
		cancel()
	}
	switch {
	case as && w.Ephemeral:
		t.ready()
		wns, name := w.split()
		t.obs.Pod.Checks = runChecks(ctx, cfg, wns, name, t.ephemeral, specs)
	case as:
		<-nodeUp // --from runs in the workload's namespace, entered from the node probe
		if t.nodeErr != nil {
			return
		}
		t.obs.Pod.Checks = runChecks(ctx, cfg, ns, t.obs.Host.Pod, launch.Container, probe.InPod(w.UID, specs))
	case cfg.Sides.NoRaw != "":
		t.ready()
		t.settle(ctx)
		t.obs.Pod.Checks = withoutRaw(ctx, cfg, ns, t.obs.Pod.Pod, specs)
	default:
		t.ready()
		t.settle(ctx)
		t.obs.Pod.Checks = runChecks(ctx, cfg, ns, t.obs.Pod.Pod, launch.Container, specs)
	}
}

// settle waits out Plan.Settle before the pod probe's checks, on the timeline.
func (t *trip) settle(ctx context.Context) {
	d := t.cfg.Plan.Settle
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	t.tl.mark(fmt.Sprintf("pod probe settled (%s for the NetworkPolicy agent: policies select it)", d))
}

// routesEarly reads the routes that need only the pod's address (its
// ingress device, the literal targets' routes from it) as soon as that
// address and the node probe are there, beside the pod's checks: after
// them, only the names' routes and the flow witness are left to read.
func (t *trip) routesEarly(factsCtx context.Context, nodeUp chan struct{}) {
	if t.obs.Pod.IP == "" {
		return
	}
	t.early.Add(1)
	go func() {
		defer t.early.Done()
		<-nodeUp // nodeErr is written before the close
		if t.nodeErr != nil {
			return
		}
		r := t.readFacts(factsCtx, t.routesQuery(t.literal))
		t.earlyRaw = &r
	}()
}

// routesAndFlows reads what needs the checks done: the names' routes as the
// checks resolved them (and the routes with the pod's address, unless
// routesEarly read them), alongside the flow witness. It returns every
// target whose facts were read.
func (t *trip) routesAndFlows(factsCtx context.Context) []probe.FactTarget {
	_, named := factTargets(t.cfg, t.obs, false)
	all := append(append([]probe.FactTarget(nil), t.literal...), named...)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.early.Wait()
		if t.earlyRaw != nil {
			t.mergeRoutes(*t.earlyRaw)
			if len(named) > 0 {
				t.mergeRoutes(t.readFacts(factsCtx, t.routesQuery(named)))
			}
		} else if t.obs.Pod.IP != "" || len(named) > 0 {
			t.mergeRoutes(t.readFacts(factsCtx, t.routesQuery(all)))
		}
	}()
	var flows probe.Raw
	if len(t.cfg.Plan.Reach) > 0 {
		t.gather.Conntrack(factsCtx, &flows, t.podIP(false), t.podIP(true))
	}
	wg.Wait()
	t.raw.Conntrack, t.raw.ConntrackSrc = flows.Conntrack, flows.ConntrackSrc
	t.raw.Notes = append(t.raw.Notes, flows.Notes...)
	return all
}

// routesQuery reads the targets' routes from the pod's addresses, and the
// pod's ingress device.
func (t *trip) routesQuery(targets []probe.FactTarget) probe.FactsQuery {
	return probe.FactsQuery{PodIP: t.podIP(false), PodIP6: t.podIP(true), Targets: targets, RoutesOnly: true}
}

// mergeRoutes adds a routes-only read to the node's facts.
func (t *trip) mergeRoutes(more probe.Raw) {
	if t.raw.RouteGet == nil {
		t.raw.RouteGet, t.raw.PodRouteGet = map[string]observe.Route{}, map[string]observe.Route{}
	}
	if more.PodRouteDev.Query != "" || more.PodRouteDev.Dev != "" {
		t.raw.PodRouteDev = more.PodRouteDev
	}
	for k, v := range more.RouteGet {
		t.raw.RouteGet[k] = v
	}
	for k, v := range more.PodRouteGet {
		t.raw.PodRouteGet[k] = v
	}
}

// readFacts runs the fact script when a slot is free.
func (t *trip) readFacts(ctx context.Context, q probe.FactsQuery) probe.Raw {
	select {
	case t.cfg.factSlots <- struct{}{}:
		defer func() { <-t.cfg.factSlots }()
	case <-ctx.Done():
	}
	return t.gather.ReadFacts(ctx, q) // with ctx done, it fails at once and says so in a note
}
