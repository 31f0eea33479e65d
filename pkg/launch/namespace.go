package launch

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultNamespace is where probe pods go unless told otherwise: a
// namespace of their own, so that the privileged node probe is not
// reachable by whoever may exec into pods of an application's namespace.
const DefaultNamespace = "netcheck"

// LabelPSAEnforce is PodSecurity admission's enforce label.
const LabelPSAEnforce = "pod-security.kubernetes.io/enforce"

// Namespace is the dedicated namespace as netcheck creates it: privileged
// (the node probe is hostNetwork, hostPID, privileged) and marked as ours.
func Namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{LabelPSAEnforce: "privileged", LabelManaged: AppName},
			Annotations: map[string]string{"netcheck.io/purpose": "kubectl-netcheck's short-lived probe pods; " +
				"grant pods/exec here only to those who may be root on the nodes"}},
	}
}

// EnsureNamespace creates the dedicated namespace if it is missing and
// says whether it did. Refused, the error gives the commands that create it.
func EnsureNamespace(ctx context.Context, cs kubernetes.Interface, name string) (bool, error) {
	_, err := cs.CoreV1().Namespaces().Create(ctx, Namespace(name), metav1.CreateOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case apierrors.IsForbidden(err):
		return false, fatalf("namespace %q for the probe pods does not exist, and you may not create it (%s); ask an admin to run:\n"+
			"  kubectl create namespace %s\n  kubectl label namespace %s %s=privileged\n"+
			"or pass --probe-namespace <an existing namespace> (the node side then runs only with --allow-privileged-in-namespace)",
			name, StatusMessage(err), name, name, LabelPSAEnforce)
	}
	return false, fmt.Errorf("creating namespace %s: %w", name, err)
}
