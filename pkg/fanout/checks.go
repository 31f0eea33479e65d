package fanout

// The checks one side runs, and the node facts asked for their targets.

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// reachSpecs are the checks of the Reach targets, the same from both sides.
func reachSpecs(cfg Config) []probe.Spec {
	var specs []probe.Spec
	for _, t := range cfg.Plan.Reach {
		specs = append(specs, probe.SpecsFor(t, observe.TargetID(t.Key()), cfg.Plan.Port, cfg.ProbeTimeout)...)
	}
	return specs
}

// withoutRaw runs the checks without a raw socket: ping through an
// unprivileged ICMP socket, the path-MTU probe (which needs raw ICMP)
// reported not run, with the reason.
func withoutRaw(ctx context.Context, cfg Config, ns, pod string, specs []probe.Spec) []observe.Check {
	var run []probe.Spec
	var skipped []observe.Check
	for _, s := range specs {
		switch s.Kind {
		case observe.MTUProbe:
			skipped = append(skipped, observe.Check{Kind: s.Kind, ID: s.ID, Target: s.ID.String(), Outcome: observe.NotRun, Detail: cfg.Sides.NoRaw})
			continue
		case observe.Ping:
			if s.ID.Role == observe.RoleTargetFamily {
				// netcheck-ping resolves in whichever family comes first: no -4/-6.
				skipped = append(skipped, observe.Check{Kind: s.Kind, ID: s.ID, Target: s.ID.String(), Outcome: observe.NotRun,
					Detail: "a ping in one address family needs busybox's ping (-4/-6): " + cfg.Sides.NoRaw})
				continue
			}
			s.Argv = probe.UnprivilegedPing(s.Argv)
		}
		run = append(run, s)
	}
	return append(runChecks(ctx, cfg, ns, pod, launch.Container, run), skipped...)
}

// runChecks runs the checks in one container, concurrently.
func runChecks(ctx context.Context, cfg Config, ns, pod, container string, specs []probe.Spec) []observe.Check {
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
			r := cfg.Exec.Exec(cctx, ns, pod, container, s.Argv)
			c := s.Classify(r)
			if r.ExitCode == probe.InPodExit && strings.Contains(r.Stderr, "netcheck: no process of pod") {
				// --from: the workload's pod ended or moved; not a verdict on the network.
				c.Outcome, c.Detail = observe.Error, "not checked: the workload pod has no process on this node any more"
			}
			if r.Truncated {
				c.Outcome, c.Detail = observe.Error, "cannot judge: the output was cut at its size limit"
			}
			if c.Outcome == observe.Error && r.Err == nil && c.Detail == "inconclusive: success with no output" {
				// One retry: the exec stream dropped the output.
				c = s.Classify(cfg.Exec.Exec(cctx, ns, pod, container, s.Argv))
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
	for _, t := range append(append([]target.Target(nil), cfg.Plan.Reach...), cfg.Plan.Consider...) {
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
		if p := t.PortOr(cfg.Plan.Port); p != 0 {
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
