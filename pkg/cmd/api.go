package cmd

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
)

// apiPath is what --path accepts: an absolute API path with a plain query,
// nothing a URL or a shell could read differently.
var apiPath = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*(\?[A-Za-z0-9._~=&%-]*)?$`)

// APIOptions is `kubectl netcheck api`: the kubernetes Service checked like
// any Service, then TLS and what a service account may do.
type APIOptions struct {
	ServiceOptions
	SA   string
	Path string
}

// NewCmdAPI builds the command.
func NewCmdAPI(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &APIOptions{ServiceOptions: *NewServiceOptions(streams)}
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Check that pods on every node reach the API server, and what a service account may do there",
		Long: templates.LongDesc(`
Checks the path from pods to the Kubernetes API server: the kubernetes
Service in namespace default like any Service (its name, ClusterIP, each
API server endpoint directly, kube-proxy's rules), then TLS (GET /version),
then — with --service-account — one request made with that account's token.

It tells a timeout (route, kube-proxy, firewall) from a TLS failure from 401
(the token is not accepted) from 403 (RBAC: the network is fine; it prints
the Role and RoleBinding that would allow the request).

With --service-account (an account of the namespace of -n) the plugin
itself asks: it requests a 10-minute token for the account and makes the
one request with it over your kubeconfig's verified TLS, refusing
redirects. The probe pods never hold a token.

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: templates.Examples(`  kubectl netcheck api
  kubectl netcheck api -n shop --service-account web --path /api/v1/namespaces/shop/configmaps`),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.SA, "service-account", "", "also ask what this service account (of the namespace of -n) may do: one request with a short-lived token, made by the plugin")
	_ = cmd.RegisterFlagCompletionFunc("service-account", o.completeNames("serviceaccount"))
	cmd.Flags().StringVar(&o.Path, "path", "", "the request made with the token (default: list pods in the probe namespace)")
	cmd.Flags().StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS domain")
	return cmd
}

// Complete points at default/kubernetes; probes go where -n says.
func (o *APIOptions) Complete() error {
	if err := o.ProbeOptions.Complete(); err != nil {
		return err
	}
	o.Name, o.svcNamespace = "kubernetes", metav1.NamespaceDefault
	if o.Path == "" {
		o.Path = "/api/v1/namespaces/" + o.WorkloadNamespace + "/pods?limit=1"
	}
	return nil
}

// Validate checks the account name and the path.
func (o *APIOptions) Validate() error {
	if o.SA != "" {
		if errs := validation.IsDNS1123Subdomain(o.SA); len(errs) > 0 {
			return cannotRun("--service-account %q is not a valid name: %s", o.SA, strings.Join(errs, "; "))
		}
	}
	if !apiPath.MatchString(o.Path) || strings.Contains(o.Path, "..") {
		return cannotRun("--path %q: give an absolute API path such as /api/v1/namespaces/default/pods", o.Path)
	}
	return o.ServiceOptions.Validate()
}

// Run probes and reports.
func (o *APIOptions) Run(parent context.Context) error {
	start := time.Now()
	ctx, stop, err := o.begin(parent)
	if err != nil {
		return err
	}
	defer stop()
	var sa string
	var asSA *observe.Check
	if o.SA != "" {
		_, err := o.Client.CoreV1().ServiceAccounts(o.WorkloadNamespace).Get(ctx, o.SA, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return cannotRun("service account %q not found in namespace %q: create it, or pass -n where it lives", o.SA, o.WorkloadNamespace)
		}
		// Forbidden to read service accounts: the token request will tell.
		sa = o.WorkloadNamespace + "/" + o.SA
		if o.DryRun != "client" { // a token request is a write
			c := asAccount(ctx, o.Client, o.RESTConfig, o.WorkloadNamespace, o.SA, o.Path, o.Timeout)
			asSA = &c
		}
	}
	g, err := o.gather(ctx, func(s *scenario.Service) scenario.Scenario {
		return &scenario.API{Service: s, Path: o.Path, ServiceAccount: sa, AsAccount: asSA}
	})
	if err != nil {
		return err
	}
	if asSA != nil {
		g.run.Notes = append(g.run.Notes, fmt.Sprintf("as %s: GET %s answered %s (asked by the plugin with a %d-minute token over the kubeconfig's TLS; the probe pods held no token)",
			sa, o.Path, asSA.Detail, accountTokenSeconds/60))
	}
	targets := []string{g.desc}
	if sa != "" {
		targets = append(targets, "as "+sa+": GET "+o.Path)
	}
	return o.finish(g.sc, "api", targets, g.sel, g.run, start)
}
