package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/launch"
)

// CleanupOptions is `kubectl netcheck cleanup`.
type CleanupOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	AllNamespaces  bool
	RunID          string
	DryRun         bool
	ProbeNamespace string

	Client    kubernetes.Interface
	Namespace string
}

// NewCmdCleanup builds the command.
func NewCmdCleanup(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CleanupOptions{ConfigFlags: flags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete probe pods left behind by interrupted runs",
		Long: templates.LongDesc(`
Deletes the probe pods of earlier runs (label app.kubernetes.io/name=kubectl-netcheck)
that a killed or crashed run left behind. Runs end their pods themselves and the
API server removes them after activeDeadlineSeconds anyway; this is for now.
It looks where the probing commands put their pods: --probe-namespace (default
netcheck), or -n when given, or every namespace with -A.
It also deletes the pods of a run still in progress: pass --run-id to limit it.`),
		Example: templates.Examples(`  kubectl netcheck cleanup -A --dry-run
  kubectl netcheck cleanup --run-id k3x9qz`),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "look in every namespace")
	cmd.Flags().StringVar(&o.RunID, "run-id", "", "only the pods of this run")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted, delete nothing")
	cmd.Flags().StringVar(&o.ProbeNamespace, "probe-namespace", "", "namespace of the probe pods (default: -n when given, else "+launch.DefaultNamespace+", where the probing commands put them)")
	return cmd
}

// Complete builds the client and resolves the namespace.
func (o *CleanupOptions) Complete() error {
	if o.RunID != "" && strings.ContainsAny(o.RunID, " ,=!()") {
		return cannotRun("--run-id %q is not a run id", o.RunID)
	}
	if o.ProbeNamespace != "" {
		if errs := validation.IsDNS1123Label(o.ProbeNamespace); len(errs) > 0 {
			return cannotRun("--probe-namespace %q is not a namespace name: %s", o.ProbeNamespace, strings.Join(errs, "; "))
		}
	}
	if o.Client != nil {
		return nil
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return cannotRun("cannot load a kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return cannotRun("cannot build a client: %v", err)
	}
	o.Client = cs
	o.Namespace = o.namespace()
	return nil
}

// namespace is where to look: the probing commands put their pods in
// --probe-namespace, not in the current namespace, so a bare `cleanup`
// looks there too; an explicit -n is taken at its word.
func (o *CleanupOptions) namespace() string {
	switch {
	case o.AllNamespaces:
		return metav1.NamespaceAll
	case o.ProbeNamespace != "":
		return o.ProbeNamespace
	case o.ConfigFlags != nil && o.ConfigFlags.Namespace != nil && *o.ConfigFlags.Namespace != "":
		return *o.ConfigFlags.Namespace
	}
	return launch.DefaultNamespace
}

// Run lists and deletes.
func (o *CleanupOptions) Run(parent context.Context) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signalContext(parent)
	defer stop()
	sel := launch.OwnedSelector
	if o.RunID != "" {
		sel += "," + launch.Selector(o.RunID)
	}
	list, err := o.Client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return apiError("list probe pods", err)
	}
	var ours []corev1.Pod
	for _, p := range list.Items {
		if launch.Ours(p) {
			ours = append(ours, p)
		}
	}
	list.Items = ours
	if len(list.Items) == 0 {
		where := fmt.Sprintf("in namespace %q (-A looks in every namespace)", o.Namespace)
		if o.Namespace == metav1.NamespaceAll {
			where = "in any namespace"
		}
		fmt.Fprintln(o.Out, "no probe pods found "+where)
		return nil
	}
	verb := "deleted"
	if o.DryRun {
		verb = "would delete"
	}
	var failed []string
	grace := launch.DeleteOptions()
	for _, p := range list.Items {
		age := duration.HumanDuration(time.Since(p.CreationTimestamp.Time))
		line := fmt.Sprintf("%s pod %s/%s (run %s, node %s, age %s)", verb, p.Namespace, p.Name, p.Labels[launch.LabelRunID], p.Spec.NodeName, age)
		if !o.DryRun {
			if err := o.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, grace); err != nil && !apierrors.IsNotFound(err) {
				failed = append(failed, fmt.Sprintf("%s/%s: %v", p.Namespace, p.Name, err))
				continue
			}
		}
		fmt.Fprintln(o.Out, line)
	}
	if len(failed) > 0 {
		return cannotRun("could not delete %d pod(s):\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}
