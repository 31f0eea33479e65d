package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
	"github.com/netcheck/kubectl-netcheck/pkg/report"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
)

// ProbeOptions are the flags and plumbing shared by every command that
// launches probe pods.
type ProbeOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Nodes          []string
	Selector       string
	MaxNodes       int
	SkipTainted    bool
	Timeout        time.Duration
	StartTimeout   time.Duration
	Concurrency    int
	FactReads      int
	Image          string
	NodeImage      string
	ProbeNamespace string
	// AllowPrivilegedIn lets the privileged node probe run in a probe
	// namespace other than the dedicated one.
	AllowPrivilegedIn bool
	Keep              bool
	Output            string
	// DryRun "client" prints the probe pods instead of creating them.
	DryRun string
	Quiet  bool
	// JUnitFile, when set, also gets the result as JUnit XML.
	JUnitFile string
	QPS       float32
	Burst     int
	// FromEphemeral: --from runs in ephemeral containers added to the
	// workload's pods instead of entering them from the node probe.
	FromEphemeral bool

	// Filled by Complete; tests set them directly.
	Client     kubernetes.Interface
	RESTConfig *rest.Config
	Namespace  string
	Exec       podexec.Execer
	RunID      string
	// WorkloadNamespace is the current namespace (-n), where --from looks.
	WorkloadNamespace string
	// Progress is forced on/off in tests; nil = on when stderr is a terminal.
	Progress *bool
	// NewClients builds the clients of a run from a REST config (sized to
	// the fan-out); tests replace it. Default: the real clientset and exec.
	NewClients func(*rest.Config) (kubernetes.Interface, podexec.Execer, error)

	cleanupCtx context.Context
}

// NewProbeOptions holds the defaults of the shared flags.
func NewProbeOptions(streams genericiooptions.IOStreams) ProbeOptions {
	return ProbeOptions{IOStreams: streams, Timeout: 3 * time.Second, StartTimeout: 60 * time.Second,
		FactReads: fanout.DefaultFactReads, Image: launch.DefaultImage, Output: "table", ProbeNamespace: launch.DefaultNamespace, DryRun: "none"}
}

// addFlags binds the shared flags; their defaults are the options' values.
func (o *ProbeOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.Nodes, "node", nil, "probe only this node (repeatable)")
	f.StringVarP(&o.Selector, "selector", "l", "", "probe only nodes matching this label selector")
	f.IntVar(&o.MaxNodes, "max-nodes", 0, "probe at most N nodes, one per zone first (0 = all)")
	f.BoolVar(&o.SkipTainted, "skip-tainted", false, "skip nodes with NoSchedule/NoExecute taints or cordoned (default: probe them, tolerating taints)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of each probe (ping, connect, HTTP)")
	f.DurationVar(&o.StartTimeout, "start-timeout", o.StartTimeout, "how long to wait for the probe pods to start")
	f.IntVar(&o.Concurrency, "concurrency", 0, "nodes probed at once (0 = all)")
	f.IntVar(&o.FactReads, "max-fact-reads", o.FactReads, "nodes whose facts (routes, rules, sysctls) are read at once: each read is an exec stream through the API server")
	f.StringVar(&o.Image, "image", o.Image, "image of the probe pods (busybox)")
	f.StringVar(&o.NodeImage, "node-image", "", "image of the node probe (default: --image)")
	f.StringVar(&o.ProbeNamespace, "probe-namespace", o.ProbeNamespace, "namespace of the probe pods (created on first use, labelled for privileged pods); elsewhere only the pod side runs unless --allow-privileged-in-namespace")
	f.BoolVar(&o.AllowPrivilegedIn, "allow-privileged-in-namespace", false, "place the privileged node probe in --probe-namespace even when it is not the dedicated namespace (anyone with pods/exec there gets root on the nodes while it runs)")
	f.BoolVar(&o.Keep, "keep", false, "leave the probe pods running for manual digging (they still expire server-side)")
	f.StringVarP(&o.Output, "output", "o", o.Output, "output format: table, wide, json, yaml, name, jsonpath=TEMPLATE or go-template=TEMPLATE (the object: metadata, spec, status)")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, `"client": print the probe pods the run would create (YAML, or JSON with -o json) and create nothing`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "no progress line on stderr (errors and warnings still print)")
	f.StringVar(&o.JUnitFile, "junit-file", "", "also write the result as JUnit XML to this file: a test case per node × check and per finding")
	_ = cmd.RegisterFlagCompletionFunc("node", o.completeNames("node"))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{"table", "wide", "json", "yaml", "name", "jsonpath=", "go-template="}, cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveNoSpace))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client"}, cobra.ShellCompDirectiveNoFileComp))
	f.Float32Var(&o.QPS, "qps", 0, "client-side API requests per second (0 = sized to the node count, so the fan-out is not throttled)")
	f.IntVar(&o.Burst, "burst", 0, "client-side API request burst (0 = sized to the node count)")
}

// Complete builds the clients from the kubeconfig flags and names the run.
// Nothing after it changes the options: a run's own state lives in the run.
func (o *ProbeOptions) Complete() error {
	if o.RunID == "" {
		o.RunID = utilrand.String(6)
	}
	if o.Client != nil {
		return nil
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return cannotRun("cannot load a kubeconfig: %v\ncheck --kubeconfig, --context or $KUBECONFIG", err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	// API warnings (PodSecurity "would violate", deprecations), once each.
	cfg.WarningHandler = rest.NewWarningWriter(o.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	if o.QPS == 0 {
		cfg.QPS = 50
	}
	if o.Burst == 0 {
		cfg.Burst = 100
	}
	cs, ex, err := o.newClients(cfg)
	if err != nil {
		return cannotRun("cannot build a client: %v", err)
	}
	o.Client, o.RESTConfig, o.Exec = cs, cfg, ex
	current := metav1.NamespaceDefault
	if ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
		current = ns
	}
	if o.WorkloadNamespace == "" {
		o.WorkloadNamespace = current
	}
	o.Namespace = o.ProbeNamespace
	if o.Namespace == "" {
		o.Namespace = launch.DefaultNamespace
	}
	return nil
}

// Validate checks flags before anything touches the cluster.
func (o *ProbeOptions) Validate() error {
	switch o.Output {
	case "", "table", "wide", "json", "yaml", "name":
	default:
		if _, err := report.TemplatePrinter(o.Output); err != nil {
			return cannotRun("%v", err)
		}
		if p, _ := report.TemplatePrinter(o.Output); p == nil {
			return cannotRun("--output %q: use table, wide, json, yaml, name, jsonpath=TEMPLATE or go-template=TEMPLATE", o.Output)
		}
	}
	switch o.DryRun {
	case "", "none", "client":
	case "server":
		return cannotRun("--dry-run=server: use --dry-run=client and pipe the pods to `kubectl apply --dry-run=server -f -` to hear admission")
	default:
		return cannotRun("--dry-run %q: use client (or none)", o.DryRun)
	}
	if o.DryRun == "client" && o.FromEphemeral {
		return cannotRun("--dry-run=client and --from-ephemeral: a dry run cannot show the change to your pods; run the dry run without --from-ephemeral to see the probe pods")
	}
	if o.Timeout < time.Second || o.Timeout > 5*time.Minute {
		return cannotRun("--timeout %s: give between 1s and 5m", o.Timeout)
	}
	if o.StartTimeout < time.Second || o.StartTimeout > 10*time.Minute {
		return cannotRun("--start-timeout %s: give between 1s and 10m (the pods' server-side deadline grows with it)", o.StartTimeout)
	}
	if o.Concurrency < 0 || o.MaxNodes < 0 {
		return cannotRun("--concurrency and --max-nodes must not be negative")
	}
	if o.FactReads < 0 { // 0 is fanout's default
		return cannotRun("--max-fact-reads %d: give at least 1 (default %d)", o.FactReads, fanout.DefaultFactReads)
	}
	if o.Image == "" {
		return cannotRun("--image must not be empty")
	}
	for flag, ref := range map[string]string{"--image": o.Image, "--node-image": o.NodeImage} {
		if ref == "" {
			continue
		}
		if err := launch.ValidateImage(ref); err != nil {
			return cannotRun("%s: %v", flag, err)
		}
		if launch.Digest(ref) == "" {
			fmt.Fprintf(o.ErrOut, "warning: %s %s is not pinned by digest: the probe runs privileged on every node, and a moved tag or a pre-seeded image would run instead; pin it as %s@sha256:<digest>\n", flag, ref, ref)
		}
	}
	for _, n := range o.Nodes {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return cannotRun("--node %q is not a valid node name: %s", n, strings.Join(errs, "; "))
		}
	}
	if o.Selector != "" {
		if _, err := labels.Parse(o.Selector); err != nil {
			return cannotRun("--selector %q: %v", o.Selector, err)
		}
	}
	if o.Namespace != "" {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			return cannotRun("namespace %q is not valid: %s", o.Namespace, strings.Join(errs, "; "))
		}
	}
	return nil
}

// printError writes an exit-2 error as the command's result object when
// the output is json or yaml; stderr still carries the message.
func (o *ProbeOptions) printError(command string, err error) {
	if code, _ := ExitCode(err); code != ExitError || (o.Output != "json" && o.Output != "yaml" && o.JUnitFile == "") || o.Out == nil {
		return
	}
	kind := ""
	for _, e := range scenario.Registry {
		if e.Command == command {
			kind = e.Kind
		}
	}
	res := report.Result{TypeMeta: metav1.TypeMeta{APIVersion: report.APIVersion, Kind: kind},
		Metadata: report.Meta{Name: o.RunID, CreationTimestamp: metav1.NewTime(time.Now().UTC().Truncate(time.Second))},
		Spec:     report.Spec{Command: command, Namespace: o.Namespace},
		Status:   report.Status{Nodes: []observe.Node{}, Findings: []diagnose.Finding{}, Error: err.Error()}}
	_ = o.writeJUnit(res)
	if o.Output == "json" || o.Output == "yaml" {
		_ = report.Print(o.Out, res, o.Output, scenario.LayoutOf(kind))
	}
}

// writeJUnit writes --junit-file, when asked.
func (o *ProbeOptions) writeJUnit(res report.Result) error {
	if o.JUnitFile == "" {
		return nil
	}
	f, err := os.Create(o.JUnitFile)
	if err == nil {
		err = report.WriteJUnit(f, res)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return cannotRun("--junit-file: %v", err)
	}
	return nil
}

// apiError explains a failed API call in terms the user can act on.
func apiError(what string, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return cannotRun("not allowed to %s: %s\nsee the README's RBAC section for the permissions netcheck needs", what, launch.StatusMessage(err))
	case apierrors.IsUnauthorized(err):
		return cannotRun("the API server rejected your credentials while trying to %s: check your kubeconfig user", what)
	case errors.Is(err, context.Canceled):
		return cannotRun("interrupted while trying to %s", what)
	}
	return cannotRun("cannot %s: %v\nis the API server reachable? check --kubeconfig/--context", what, err)
}

// selectNodes lists and filters the nodes to probe.
func (o *ProbeOptions) selectNodes(ctx context.Context) (plan.Selected, error) {
	list, err := o.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return plan.Selected{}, apiError("list nodes", err)
	}
	sel, err := plan.SelectNodes(list.Items, plan.NodeSelection{Names: o.Nodes, MaxNodes: o.MaxNodes, SkipTainted: o.SkipTainted})
	if err != nil {
		return sel, cannotRun("%v", err)
	}
	return sel, nil
}

// checkNamespace fails early, with a clear message, on a missing namespace.
// The dedicated namespace is created on first use when the user may.
func (o *ProbeOptions) checkNamespace(ctx context.Context) error {
	_, err := o.Client.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		// Not allowed to read namespaces is fine: pod creation will tell.
		return nil
	case apierrors.IsNotFound(err) && o.Namespace == launch.DefaultNamespace && o.DryRun == "client":
		fmt.Fprintf(o.ErrOut, "dry run: namespace %s does not exist yet; a run creates it (kubectl create namespace %s; kubectl label namespace %s %s=privileged)\n",
			o.Namespace, o.Namespace, o.Namespace, launch.LabelPSAEnforce)
		return nil
	case apierrors.IsNotFound(err) && o.Namespace == launch.DefaultNamespace:
		created, err := launch.EnsureNamespace(ctx, o.Client, o.Namespace)
		if err != nil {
			return cannotRun("%v", err)
		}
		if created {
			fmt.Fprintf(o.ErrOut, "created namespace %s for the probe pods, labelled %s=privileged (remove it with: kubectl delete namespace %s)\n",
				o.Namespace, launch.LabelPSAEnforce, o.Namespace)
		}
		return nil
	case apierrors.IsNotFound(err):
		return cannotRun("namespace %q not found: create it, or leave --probe-namespace at its default (%s, created on first use)", o.Namespace, launch.DefaultNamespace)
	}
	return apiError("read namespace "+o.Namespace, err)
}

// nodeProbeHere says whether the privileged node probe may run in the
// probe namespace, and why not: where users hold pods/exec (any namespace
// with the built-in edit role), a privileged hostPID pod is root on the node.
func (o *ProbeOptions) nodeProbeHere() string {
	if o.Namespace == launch.DefaultNamespace || o.AllowPrivilegedIn {
		return ""
	}
	return fmt.Sprintf("the privileged node probe runs only in the dedicated namespace %q: anyone with pods/exec in %q could use it as root on the node while it runs. "+
		"Pass --allow-privileged-in-namespace to place it there anyway", launch.DefaultNamespace, o.Namespace)
}

func (o *ProbeOptions) showProgress() bool {
	if o.Progress != nil {
		return *o.Progress
	}
	if o.Quiet {
		return false
	}
	w := o.ErrOut
	if e, ok := w.(epipeWriter); ok {
		w = e.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// begin is the start every probing command shares: signals (the first
// cancels the run, a second the cleanup), then a clear error for a missing
// namespace before anything else is asked of the cluster.
func (o *ProbeOptions) begin(parent context.Context) (context.Context, func(), error) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cleanupCtx, gone, stop := watchSignals(parent, o.ErrOut)
	o.cleanupCtx = cleanupCtx
	o.Out, o.ErrOut = epipeWriter{o.Out, gone}, epipeWriter{o.ErrOut, gone}
	if err := o.checkNamespace(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	return ctx, stop, nil
}

// nodeCIDRs gathers every node's podCIDRs for overlap checks.
func nodeCIDRs(nodes []corev1.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Spec.PodCIDRs...)
	}
	return out
}

// finish judges what the run saw, prints the report and maps the findings
// to the exit code.
func (o *ProbeOptions) finish(sc scenario.Scenario, command string, targets []string, sel plan.Selected, run probeRun, start time.Time) error {
	findings := sc.Diagnose(run.Nodes)
	if findings == nil {
		findings = []diagnose.Finding{}
	}
	res := report.Result{
		TypeMeta: metav1.TypeMeta{APIVersion: report.APIVersion, Kind: sc.Kind()},
		Metadata: report.Meta{Name: o.RunID, CreationTimestamp: metav1.NewTime(start.UTC().Truncate(time.Second))},
		Spec:     report.Spec{Command: command, Targets: targets, Namespace: o.Namespace},
		Status: report.Status{Nodes: run.Nodes, Skipped: sel.Skipped, Sampled: sel.Sampled, Findings: findings,
			Healthy:          !diagnose.HasProblems(findings),
			DurationMillis:   time.Since(start).Milliseconds(),
			FirstReadyMillis: run.Timing.FirstReady.Milliseconds(),
			Cleanup:          run.Cleanup,
			Notes:            run.Notes},
	}
	if err := report.Print(o.Out, res, o.Output, scenario.LayoutOf(res.Kind)); err != nil {
		return cannotRun("%v", err)
	}
	if err := o.writeJUnit(res); err != nil {
		return err
	}
	if !res.Healthy {
		return errProblems
	}
	return nil
}
