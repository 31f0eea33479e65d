package cmd

// Launching a scenario's plan: the run's own clients, the fan-out, and
// the cleanup that always follows.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// probeRun is what a probing command gets back from launching.
type probeRun struct {
	Nodes    []observe.Node
	Selected plan.Selected
	Timing   fanout.Timing
	Cleanup  string
	Notes    []string
}

// probe runs a scenario's plan on the selected nodes, or none when the
// scenario says its objects alone answer (the note says so).
func (o *ProbeOptions) probe(ctx context.Context, sc scenario.Scenario, sel plan.Selected) (probeRun, error) {
	p, skip := sc.Plan()
	if o.DryRun == "client" {
		if skip != "" {
			return probeRun{}, o.printDryRun(nil)
		}
		return probeRun{}, o.printDryRun(o.dryRunPods(p, sel))
	}
	if skip != "" {
		return probeRun{Selected: sel, Notes: []string{skip}}, nil
	}
	run, err := o.launchAndProbe(ctx, p, sel)
	if n := ephemeralNote(p, run.Nodes, o.RunID); n != "" {
		run.Notes = append(run.Notes, n)
	}
	return run, err
}

// ephemeralNote names the user's pods that --from-ephemeral changed for
// good (every one it tried: a failed wait may still leave the container);
// "" when it tried none.
func ephemeralNote(p fanout.Plan, nodes []observe.Node, runID string) string {
	var changed []string
	for _, n := range nodes {
		if w, ok := p.As[n.Name]; ok && w.Ephemeral {
			changed = append(changed, w.Pod)
		}
	}
	if len(changed) == 0 {
		return ""
	}
	sort.Strings(changed)
	return fmt.Sprintf("--from-ephemeral added the ephemeral container %s to %s (where a node says it failed, the API may have refused it): it stops within a minute, and Kubernetes keeps it (terminated) in the pods' spec until they are replaced",
		launch.EphemeralName(runID), strings.Join(changed, ", "))
}

// launchAndProbe runs the fan-out over the selected nodes and always
// cleans up after itself, whatever happened.
func (o *ProbeOptions) launchAndProbe(ctx context.Context, p fanout.Plan, sel plan.Selected) (run probeRun, err error) {
	cfg := fanout.Config{Plan: p}
	client, exec, err := o.sizedClients(len(sel.Nodes))
	if err != nil {
		return run, cannotRun("cannot build a client: %v", err)
	}
	l := &launch.Launcher{Client: client, Opts: o.podOptions()}
	// The permission preflight comes before anything watches or creates.
	if err := launch.CheckAccess(ctx, client, o.Namespace, launch.Needed); err != nil {
		return run, cannotRun("%v", err)
	}
	// The informer's sync, the reaping of earlier runs' ended pods and the
	// admission dry-runs are independent: side by side, they cost the
	// slowest of them before the first create, not their sum.
	placement := o.nodeProbeHere()
	var (
		wg               sync.WaitGroup
		startErr, admErr error
		adm              launch.Admission
		reaped           int
	)
	wg.Add(3)
	go func() { defer wg.Done(); startErr = l.Start(ctx, o.StartTimeout) }()
	go func() { defer wg.Done(); reaped = launch.Reap(ctx, client, o.Namespace) }()
	go func() {
		defer wg.Done()
		adm, admErr = launch.CheckAdmission(ctx, client, l.Opts, sel.Nodes[0].Name, placement == "")
	}()
	wg.Wait()
	if startErr != nil {
		l.Stop()
		return run, cannotRun("%v", startErr)
	}
	defer l.Stop()
	if reaped > 0 {
		fmt.Fprintf(o.ErrOut, "removed %d ended probe pod(s) of earlier interrupted runs\n", reaped)
	}
	if admErr != nil {
		return run, cannotRun("%v", admErr)
	}
	defer func() {
		if o.Keep {
			run.Cleanup = fmt.Sprintf("kept probe pods: kubectl delete pods -n %s -l %s", o.Namespace, launch.Selector(o.RunID))
			fmt.Fprintln(o.ErrOut, run.Cleanup)
			return
		}
		cctx := o.cleanupCtx
		if cctx == nil {
			cctx = context.Background()
		}
		n, cerr := l.Cleanup(cctx, launch.CleanupTimeout(len(sel.Nodes)))
		if cerr != nil {
			fmt.Fprintf(o.ErrOut, "warning: %v\n", cerr)
			run.Cleanup = cerr.Error()
			return
		}
		run.Cleanup = fmt.Sprintf("deleted %d probe pods (run %s)", n, o.RunID)
	}()
	if adm.PodRestricted != "" {
		l.Opts.Restricted = true
		cfg.Sides.NoRaw = fmt.Sprintf("not run: namespace %q enforces PodSecurity restricted, which forbids NET_RAW; the path-MTU probe needs raw ICMP", o.Namespace)
		run.Notes = append(run.Notes, fmt.Sprintf("the pod probe runs in PodSecurity's restricted shape in namespace %q (no capabilities, not root): it pings through an unprivileged ICMP socket "+
			"(netcheck-ping, with net.ipv4.ping_group_range set for the pod); the path-MTU probe is not run from pods", o.Namespace))
		fmt.Fprintln(o.ErrOut, "warning: "+run.Notes[len(run.Notes)-1])
	}
	switch {
	case placement != "":
		cfg.Sides.PodOnly, cfg.Sides.Why = true, "not run: "+placement
		run.Notes = append(run.Notes, "node-side checks and node facts were not run: "+placement)
		fmt.Fprintln(o.ErrOut, "warning: "+run.Notes[len(run.Notes)-1])
	case adm.NodeProbeRefused != "":
		cfg.Sides.PodOnly, cfg.Sides.Why = true, fmt.Sprintf("not run: namespace %q refuses privileged pods (%s)", o.Namespace, adm.NodeProbeRefused)
		run.Notes = append(run.Notes, fmt.Sprintf("node-side checks and node facts were not run: PodSecurity in namespace %q refuses the privileged node probe. "+
			"For the full diagnosis label it pod-security.kubernetes.io/enforce=privileged, or use the dedicated namespace %q", o.Namespace, launch.DefaultNamespace))
		fmt.Fprintln(o.ErrOut, "warning: "+run.Notes[len(run.Notes)-1])
	}
	cfg.Launcher, cfg.Exec = l, exec
	cfg.ProbeTimeout, cfg.StartTimeout, cfg.Concurrency, cfg.FactReads = o.Timeout, o.StartTimeout, o.Concurrency, o.FactReads
	if o.showProgress() {
		cfg.Progress = progressPrinter(o.ErrOut, len(sel.Nodes))
	}
	if klog.V(2).Enabled() {
		var mu sync.Mutex
		cfg.Events = func(node string, e observe.Event) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(o.ErrOut, "%7dms %s: %s", e.AtMillis, node, e.What)
			if e.TookMillis > 0 || e.Bytes > 0 {
				fmt.Fprintf(o.ErrOut, " (%dms, %d bytes)", e.TookMillis, e.Bytes)
			}
			fmt.Fprintln(o.ErrOut)
		}
	}
	run.Selected = sel
	run.Nodes, run.Timing, err = fanout.Run(ctx, cfg, sel.Nodes)
	if err != nil {
		if errors.Is(err, launch.ErrFatal) {
			return run, cannotRun("%v", err)
		}
		return run, cannotRun("%v", err)
	}
	if ctx.Err() != nil {
		return run, cannotRun("interrupted: %v; probe pods are being removed", context.Cause(ctx))
	}
	failed := 0
	for _, n := range run.Nodes {
		if n.Err != "" {
			failed++
		}
	}
	if failed == len(run.Nodes) && failed > 0 {
		var msgs []string
		for _, n := range run.Nodes {
			msgs = append(msgs, n.Name+": "+n.Err)
		}
		return run, cannotRun("no node could be probed:\n  %s", strings.Join(msgs, "\n  "))
	}
	return run, nil
}

// lifetime is how long the probe pods live: start, one probe phase, one
// facts phase and a margin. activeDeadlineSeconds ends them if the plugin dies.
func (o *ProbeOptions) lifetime() time.Duration {
	return o.StartTimeout + fanout.PhaseBound(o.Timeout) + fanout.FactsBound + 10*time.Second
}

// sizedClients are the run's clients, with the client-side rate limit
// raised to the fan-out: two pod creates per node at once must not queue
// behind a limit of 50/s (at 1,000 nodes that alone would be 40 s). The API
// server's Priority and Fairness still protects it. Explicit --qps/--burst
// win. The options keep their own clients: other goroutines of the command
// (service --hairpin) read them meanwhile.
func (o *ProbeOptions) sizedClients(nodes int) (kubernetes.Interface, podexec.Execer, error) {
	if o.RESTConfig == nil || (o.QPS != 0 && o.Burst != 0) {
		return o.Client, o.Exec, nil
	}
	cfg := rest.CopyConfig(o.RESTConfig)
	if o.QPS == 0 {
		cfg.QPS = float32(max(50, 2*nodes))
	}
	if o.Burst == 0 {
		cfg.Burst = max(100, 2*nodes+50)
	}
	return o.newClients(cfg)
}

func (o *ProbeOptions) newClients(cfg *rest.Config) (kubernetes.Interface, podexec.Execer, error) {
	if o.NewClients != nil {
		return o.NewClients(cfg)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cs, &podexec.Remote{Config: cfg, Client: cs}, nil
}
