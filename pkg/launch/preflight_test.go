package launch

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	authv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// TestCheckAccessAsksSideBySide: every review is in flight before any is
// answered, so the preflight costs one round trip; the answers are still
// matched to their permissions, listed in Needed's order.
func TestCheckAccessAsksSideBySide(t *testing.T) {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	review := func(ssar *authv1.SelfSubjectAccessReview) *authv1.SelfSubjectAccessReview {
		mu.Lock()
		if arrived++; arrived == len(Needed) {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			t.Error("a review waited for the previous answer: asked one after another")
		}
		attr := ssar.Spec.ResourceAttributes
		ssar.Status.Allowed = attr.Verb != "delete" && attr.Subresource != "exec"
		return ssar
	}
	err := CheckAccess(context.Background(), barrierReviews{fake.NewClientset(), review}, "ns1", Needed)
	want := "  - delete pods in namespace \"ns1\"\n  - create pods/exec in namespace \"ns1\"\n"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want the two missing permissions in order:\n%s", err, want)
	}
}

type barrierReviews struct {
	kubernetes.Interface
	review func(*authv1.SelfSubjectAccessReview) *authv1.SelfSubjectAccessReview
}

func (b barrierReviews) AuthorizationV1() authv1client.AuthorizationV1Interface {
	return barrierAuth{b.Interface.AuthorizationV1(), b.review}
}

type barrierAuth struct {
	authv1client.AuthorizationV1Interface
	review func(*authv1.SelfSubjectAccessReview) *authv1.SelfSubjectAccessReview
}

func (a barrierAuth) SelfSubjectAccessReviews() authv1client.SelfSubjectAccessReviewInterface {
	return barrierSSAR{a.AuthorizationV1Interface.SelfSubjectAccessReviews(), a.review}
}

type barrierSSAR struct {
	authv1client.SelfSubjectAccessReviewInterface
	review func(*authv1.SelfSubjectAccessReview) *authv1.SelfSubjectAccessReview
}

func (s barrierSSAR) Create(_ context.Context, r *authv1.SelfSubjectAccessReview, _ metav1.CreateOptions) (*authv1.SelfSubjectAccessReview, error) {
	return s.review(r.DeepCopy()), nil
}
