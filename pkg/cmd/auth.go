package cmd

// client-go's auth provider plugins (oidc; exec credential plugins are
// built in), as kubectl links them: a kubeconfig that works with kubectl
// works with the plugin.
import _ "k8s.io/client-go/plugin/pkg/client/auth"
