package cmd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// maxHairpin bounds the backend pods that get a probe container.
const maxHairpin = 5

// hairpinChecks adds a probe container to one ready backend per selected
// node and connects from it to its own Service (`--hairpin`). It changes
// those pods' specs for good (an ephemeral container cannot be removed):
// the notes say which.
func (o *ServiceOptions) hairpinChecks(ctx context.Context, in diagnose.ServiceInput, nodes map[string]bool) ([]diagnose.HairpinCheck, []string) {
	var picked []diagnose.Backend
	seen := map[string]bool{}
	for _, b := range in.Backends {
		if b.Ready && nodes[b.Node] && !seen[b.Node] && len(picked) < maxHairpin {
			seen[b.Node] = true
			picked = append(picked, b)
		}
	}
	if len(picked) == 0 || in.Headless() {
		return nil, []string{"--hairpin: no ready backend pod on the probed nodes to check from"}
	}
	opts := launch.PodOptions{Namespace: in.Namespace, RunID: o.RunID, Image: o.Image, Lifetime: time.Minute}
	out := make([]diagnose.HairpinCheck, len(picked))
	errs := make([]string, len(picked))
	var wg sync.WaitGroup
	for i, b := range picked {
		wg.Add(1)
		go func(i int, b diagnose.Backend) {
			defer wg.Done()
			out[i] = diagnose.HairpinCheck{Pod: b.Pod, Node: b.Node}
			sctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
			container, err := launch.AddEphemeral(sctx, o.Client, in.Namespace, b.Pod, opts)
			cancel()
			if err != nil {
				errs[i] = fmt.Sprintf("pod %s: %s", b.Pod, launch.StatusMessage(err))
				return
			}
			ectx, cancel := context.WithTimeout(ctx, time.Duration(probe.HairpinTries)*time.Second+10*time.Second)
			defer cancel()
			r := o.Exec.Exec(ectx, in.Namespace, b.Pod, container, probe.HairpinArgv(in.ClusterIP, int(in.Port.Port), time.Second)) // to itself: a second is plenty
			out[i].Check = probe.ClassifyHairpin(r)
			id := observe.NewCheckID(observe.RoleHairpin, in.ClusterIP, int(in.Port.Port)).Concerning(b.Pod)
			out[i].Check.ID, out[i].Check.Target = id, id.String()
		}(i, b)
	}
	wg.Wait()
	var notes, changed, failed []string
	var done []diagnose.HairpinCheck
	for i, h := range out {
		if errs[i] != "" {
			failed = append(failed, errs[i])
			continue
		}
		changed = append(changed, h.Pod)
		done = append(done, h)
	}
	sort.Strings(changed)
	if len(changed) > 0 {
		notes = append(notes, fmt.Sprintf("--hairpin added the ephemeral container %s to %s in %s: it stops within a minute, and Kubernetes keeps it (terminated) in the pods' spec until they are replaced",
			launch.EphemeralName(o.RunID), strings.Join(changed, ", "), in.Namespace))
	}
	if len(failed) > 0 {
		notes = append(notes, "--hairpin could not check "+strings.Join(failed, "; ")+
			" (it needs update on pods/ephemeralcontainers and create on pods/exec in "+in.Namespace+")")
	}
	if len(in.ReadyEndpoints()) > 1 {
		notes = append(notes, fmt.Sprintf("--hairpin: each of the %d connects lands on a random one of %d endpoints, so all of them may miss the pod itself",
			probe.HairpinTries, len(in.ReadyEndpoints())))
	}
	return done, notes
}
