// Package fanout runs one probe pipeline per node, concurrently: create the
// two probe pods, wait for them, run the checks from both sides, read the
// node's facts. The wall time is one pod start plus one probe timeout,
// whatever the node count; --concurrency only bounds the API load.
package fanout

import (
	"context"
	"errors"
	"net/netip"
	"sync"
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

// Config is one run.
type Config struct {
	Launcher     *launch.Launcher
	Exec         podexec.Execer
	Targets      []target.Target
	Port         int // extra TCP port for IP/CIDR targets; 0 = ping only
	ProbeTimeout time.Duration
	StartTimeout time.Duration
	Concurrency  int
	// Progress, when set, is told each node's steps (for a terminal display).
	Progress func(node, step string)
	// PodSpecs are extra checks run from the pod probe only (e.g. DNS
	// queries to given servers), whatever ChecksOff says.
	PodSpecs []probe.Spec
	// NodeSpecs, when set, gives extra checks run from each node's node
	// probe (e.g. a NodePort on that node's own address).
	NodeSpecs func(n corev1.Node) []probe.Spec
	// VIPs are Service addresses looked up in each node's proxy rules.
	VIPs []facts.VIP
	// PeerSpecs, when set, gives checks from a node's pod probe to the
	// other nodes' pod probes; they start once every pod probe is up (or
	// failed), so every node is probed at once whatever Concurrency says.
	PeerSpecs func(self string, peers []Peer) []probe.Spec

	roster *roster
	// ChecksOff runs no reachability check of the Targets: only the node facts are read
	// (for the Targets' addresses, which are then never contacted).
	ChecksOff bool
	// NodeSideOff, when set, says why no node probe is launched (admission
	// refuses privileged pods): the pod side runs alone.
	NodeSideOff string
}

// Timing records where the time went, for the report and the benchmark.
type Timing struct {
	FirstReady time.Duration `json:"firstReady"`
	Total      time.Duration `json:"total"`
}

// FactsBound bounds the reading of a node's facts.
const FactsBound = 20 * time.Second

// PhaseBound bounds one check: the tool's own timeout plus the exec's
// overhead, so a hung exec cannot hold the run.
func PhaseBound(probeTimeout time.Duration) time.Duration { return probeTimeout + 10*time.Second }

// Run probes every node and returns one observation per node. It returns
// an error only for faults that stop the whole run (launch.ErrFatal);
// a node that fails alone carries its error in its observation.
func Run(ctx context.Context, cfg Config, nodes []corev1.Node) ([]observe.Node, Timing, error) {
	start := time.Now()
	var firstReady sync.Once
	var timing Timing
	out := make([]observe.Node, len(nodes))
	g, gctx := errgroup.WithContext(ctx)
	limit := cfg.Concurrency
	if limit <= 0 || cfg.PeerSpecs != nil {
		limit = len(nodes)
	}
	if cfg.PeerSpecs != nil {
		cfg.roster = newRoster(len(nodes))
	}
	g.SetLimit(limit)
	for i := range nodes {
		i := i
		g.Go(func() error {
			obs, err := runNode(gctx, cfg, nodes[i], i, func() {
				firstReady.Do(func() { timing.FirstReady = time.Since(start) })
			})
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

func runNode(ctx context.Context, cfg Config, n corev1.Node, idx int, onReady func()) (observe.Node, error) {
	obs := observe.Node{Name: n.Name, IP: plan.InternalIP(n)}
	reported := false
	report := func(ip string) {
		if cfg.roster != nil && !reported {
			reported = true
			cfg.roster.report(Peer{Node: n.Name, PodIP: ip})
		}
	}
	defer report("")
	opts := cfg.Launcher.Opts
	podPod, nodePod := launch.PodProbe(opts, n.Name, idx), launch.NodeProbe(opts, n.Name, idx)
	obs.Pod.Pod, obs.Host.Pod = podPod.Name, nodePod.Name
	cfg.progress(n.Name, "creating probe pods")

	startCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	var podErr, nodeErr error
	var readyPod, readyNode *corev1.Pod
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if podErr = cfg.Launcher.Create(startCtx, podPod); podErr == nil {
			readyPod, podErr = cfg.Launcher.WaitReady(startCtx, podPod.Name)
		}
	}()
	go func() {
		defer wg.Done()
		if cfg.NodeSideOff != "" {
			nodeErr = errors.New(cfg.NodeSideOff)
			return
		}
		if nodeErr = cfg.Launcher.Create(startCtx, nodePod); nodeErr == nil {
			readyNode, nodeErr = cfg.Launcher.WaitReady(startCtx, nodePod.Name)
		}
	}()
	wg.Wait()
	for _, e := range []error{podErr, nodeErr} {
		if errors.Is(e, launch.ErrFatal) {
			obs.Err = e.Error()
			return obs, e
		}
	}
	if podErr != nil && (nodeErr != nil || cfg.NodeSideOff != "") {
		obs.Err = podErr.Error()
		if nodeErr.Error() != podErr.Error() {
			obs.Err += "; " + nodeErr.Error()
		}
		return obs, nil
	}
	onReady()
	if podErr != nil {
		obs.Pod.Err = podErr.Error()
	} else {
		obs.Pod.IP = readyPod.Status.PodIP
	}
	report(obs.Pod.IP)
	if nodeErr != nil {
		obs.Host.Err = nodeErr.Error()
	} else {
		obs.Host.IP = readyNode.Status.PodIP
	}
	ns := opts.Namespace

	cfg.progress(n.Name, "probing")
	g := probe.Gatherer{Exec: cfg.Exec, Namespace: ns, Pod: nodePod.Name, Container: launch.Container}
	factsCtx, cancelFacts := context.WithTimeout(ctx, PhaseBound(cfg.ProbeTimeout)+FactsBound)
	defer cancelFacts()
	// Routes, rules and sysctls do not depend on the checks: read them
	// meanwhile. Names are resolved by the checks, so their facts come after.
	literal, _ := factTargets(cfg, obs, true)
	var raw probe.Raw
	wg.Add(3)
	go func() {
		defer wg.Done()
		if nodeErr == nil {
			raw = g.ReadFacts(factsCtx, obs.Pod.IP, literal)
		}
	}()
	go func() {
		defer wg.Done()
		if podErr == nil {
			specs := cfg.PodSpecs
			if cfg.PeerSpecs != nil {
				waitCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
				specs = append(append([]probe.Spec(nil), specs...), cfg.PeerSpecs(n.Name, cfg.roster.wait(waitCtx))...)
				cancel()
			}
			obs.Pod.Checks = runChecks(ctx, cfg, ns, podPod.Name, specs)
		}
	}()
	go func() {
		defer wg.Done()
		if nodeErr == nil {
			var extra []probe.Spec
			if cfg.NodeSpecs != nil {
				extra = cfg.NodeSpecs(n)
			}
			obs.Host.Checks = runChecks(ctx, cfg, ns, nodePod.Name, extra)
		}
	}()
	wg.Wait()

	if nodeErr == nil {
		cfg.progress(n.Name, "reading node facts")
		_, named := factTargets(cfg, obs, false)
		if len(named) > 0 {
			more := g.ReadFacts(factsCtx, obs.Pod.IP, named)
			for k, v := range more.RouteGet {
				raw.RouteGet[k] = v
			}
			for k, v := range more.PodRouteGet {
				raw.PodRouteGet[k] = v
			}
		}
		// The flow witness: read after the checks made their flows.
		if !cfg.ChecksOff {
			g.Conntrack(factsCtx, obs.Pod.IP, &raw)
		}
		obs.Facts = probe.Assemble(raw, obs.Pod.IP, n.Spec.PodCIDRs, append(literal, named...), cfg.VIPs)
	} else {
		obs.Facts.PodCIDRs = n.Spec.PodCIDRs
	}
	cfg.progress(n.Name, "done")
	return obs, nil
}

// runChecks runs every target's checks in one probe pod, concurrently.
func runChecks(ctx context.Context, cfg Config, ns, pod string, extra []probe.Spec) []observe.Check {
	var specs []probe.Spec
	if !cfg.ChecksOff {
		for _, t := range cfg.Targets {
			specs = append(specs, probe.SpecsFor(t, observe.TargetID(t.Key()), cfg.Port, cfg.ProbeTimeout)...)
		}
	}
	specs = append(specs, extra...)
	if len(specs) == 0 {
		return nil
	}
	out := make([]observe.Check, len(specs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, s := range specs {
		wg.Add(1)
		go func(i int, s probe.Spec) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// ping -w plus exec overhead: a generous bound that still ends.
			cctx, cancel := context.WithTimeout(ctx, PhaseBound(cfg.ProbeTimeout))
			defer cancel()
			r := cfg.Exec.Exec(cctx, ns, pod, launch.Container, s.Argv)
			c := s.Classify(r)
			if c.Outcome == observe.Error && r.Err == nil && c.Detail == "inconclusive: success with no output" {
				// One retry: the exec stream dropped the output.
				c = s.Classify(cfg.Exec.Exec(cctx, ns, pod, launch.Container, s.Argv))
			}
			c.ID, c.Target = s.ID, s.ID.String()
			out[i] = c
		}(i, s)
	}
	wg.Wait()
	return out
}

// factTargets lists the addresses to read facts for: literal addresses,
// and names as the node (or else the pod) resolved them. With
// literalOnly the names are left for later, when the checks have run.
func factTargets(cfg Config, obs observe.Node, literalOnly bool) (literal, named []probe.FactTarget) {
	for _, t := range cfg.Targets {
		key := t.Key()
		addr := t.Addr
		isName := !addr.IsValid()
		if isName {
			if literalOnly {
				continue
			}
			id := observe.TargetID(key)
			addr = resolved(obs.Host.Checks, id)
			if !addr.IsValid() {
				addr = resolved(obs.Pod.Checks, id)
			}
		}
		if !addr.IsValid() {
			continue
		}
		ft := probe.FactTarget{Key: key, Addr: addr, Proto: "icmp"}
		if p := portOf(t, cfg.Port); p != 0 {
			ft.Proto, ft.Port = "tcp", p
		}
		if isName {
			named = append(named, ft)
		} else {
			literal = append(literal, ft)
		}
	}
	return literal, named
}

func portOf(t target.Target, port int) int {
	if t.Port != 0 {
		return t.Port
	}
	return port
}

func resolved(checks []observe.Check, id observe.CheckID) netip.Addr {
	for _, c := range checks {
		if c.ID == id && c.Kind == observe.DNS {
			for _, r := range c.Resolved {
				if a, err := netip.ParseAddr(r); err == nil {
					return a
				}
			}
		}
	}
	return netip.Addr{}
}
