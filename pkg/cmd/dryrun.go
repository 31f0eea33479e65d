package cmd

// --dry-run=client: the probe pods a run would create, printed as a v1
// List, and nothing created — so that whoever must approve privileged pods
// on their nodes can read them first (and `kubectl apply --dry-run=server`
// them to hear admission).

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
)

// errDryRun ends a dry run: exit 0, nothing more printed.
var errDryRun = &exitError{code: ExitHealthy, err: errors.New("dry run")}

// podOptions are the probe pods' shape for this run.
func (o *ProbeOptions) podOptions() launch.PodOptions {
	return launch.PodOptions{Namespace: o.Namespace, RunID: o.RunID, Image: o.Image, NodeImage: o.NodeImage,
		Lifetime: o.lifetime(), CreatedBy: "kubectl-netcheck " + Version}
}

// dryRunPods are the pods the plan would create on the selected nodes:
// a pod probe where the pod side is not a workload's, a node probe where
// it may be placed.
func (o *ProbeOptions) dryRunPods(p fanout.Plan, sel plan.Selected) []corev1.Pod {
	po := o.podOptions()
	var out []corev1.Pod
	for i, n := range sel.Nodes {
		if _, as := p.As[n.Name]; !as {
			out = append(out, *launch.PodProbe(po, n.Name, i))
		}
		if o.nodeProbeHere() == "" {
			out = append(out, *launch.NodeProbe(po, n.Name, i))
		}
	}
	return out
}

// printDryRun writes the pods as a v1 List: YAML, or JSON with -o json.
func (o *ProbeOptions) printDryRun(pods []corev1.Pod) error {
	list := &corev1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	for i := range pods {
		list.Items = append(list.Items, runtime.RawExtension{Object: &pods[i]})
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err == nil && o.Output != "json" {
		b, err = yaml.JSONToYAML(b)
	}
	if err != nil {
		return cannotRun("printing the pods: %v", err)
	}
	if o.Output == "json" {
		b = append(b, '\n')
	}
	if _, err := o.Out.Write(b); err != nil {
		return cannotRun("%v", err)
	}
	fmt.Fprintf(o.ErrOut, "dry run: %d probe pod(s) in namespace %s would be created; nothing was\n", len(pods), o.Namespace)
	return errDryRun
}
