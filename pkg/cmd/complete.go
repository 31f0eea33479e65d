package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/completion"
)

// Dynamic completion is kubectl's own (k8s.io/kubectl/pkg/util/completion):
// names read from the cluster the flags point at, the same way `kubectl get`
// completes them; a shell never sees an error.

// completionFactory is the kubectl factory over the command's ConfigFlags:
// it reads --kubeconfig, --context and -n as they are at completion time.
func completionFactory(flags *genericclioptions.ConfigFlags) cmdutil.Factory {
	return cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(flags))
}

// completeNames completes the first argument, or a flag's value, with the
// names of one resource type.
func (o *ProbeOptions) completeNames(resource string) cobra.CompletionFunc {
	return bounded(o.ConfigFlags, completion.ResourceNameCompletionFunc(completionFactory(o.ConfigFlags), resource))
}

// bounded gives completion's API requests a timeout unless one was asked
// for: a TAB must not hang on a cluster that does not answer.
func bounded(flags *genericclioptions.ConfigFlags, f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if flags.Timeout != nil && (*flags.Timeout == "" || *flags.Timeout == "0") {
			*flags.Timeout = "5s"
		}
		return f(c, args, prefix)
	}
}

// completeWorkloads completes --from's KIND/NAME: the kinds, then, once a
// kind and "/" are typed, that kind's names. The command's own arguments
// are not --from's, so they are not passed on.
func (o *ProbeOptions) completeWorkloads() cobra.CompletionFunc {
	f := completion.SpecifiedResourceTypeAndNameCompletionFunc(completionFactory(o.ConfigFlags),
		[]string{"deployment", "statefulset", "daemonset", "replicaset", "pod"})
	return bounded(o.ConfigFlags, func(c *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return f(c, nil, prefix)
	})
}

// registerGlobalCompletion completes the kubeconfig flags as kubectl does:
// namespaces from the cluster, contexts, clusters and users from the file.
func registerGlobalCompletion(cmd *cobra.Command, flags *genericclioptions.ConfigFlags) {
	f := completionFactory(flags)
	completion.SetFactoryForCompletion(f)
	_ = cmd.RegisterFlagCompletionFunc("namespace", bounded(flags, completion.ResourceNameCompletionFunc(f, "namespace")))
	_ = cmd.RegisterFlagCompletionFunc("context", completion.ContextCompletionFunc)
	_ = cmd.RegisterFlagCompletionFunc("cluster", completion.ClusterCompletionFunc)
	_ = cmd.RegisterFlagCompletionFunc("user", completion.UserCompletionFunc)
}
