package cmd

// What a service account may do, asked by the plugin itself: the pods
// never handle a token. The plugin requests a short-lived token for the
// account (TokenRequest) and makes the one request with it over the
// kubeconfig's own verified TLS, refusing redirects.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// accountTokenSeconds is the life of the token: the shortest the API server accepts.
const accountTokenSeconds = 600

// asAccount makes GET path as namespace/sa and reports it as a check.
func asAccount(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, namespace, sa, path string, timeout time.Duration) observe.Check {
	c := observe.Check{Kind: observe.HTTP, ID: diagnose.APITokenKey(path)}
	if cfg == nil {
		c.Outcome, c.Detail = observe.Error, "no REST config to reach the API server with"
		return c
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: namespace},
		Spec:       authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(accountTokenSeconds))},
	}, metav1.CreateOptions{})
	if err != nil {
		c.Outcome, c.Detail = observe.Error, "cannot request a token for the account (create serviceaccounts/token): "+err.Error()
		return c
	}
	// The kubeconfig's server and CA, none of its credentials: only the token.
	acfg := rest.AnonymousClientConfig(cfg)
	acfg.BearerToken = tr.Status.Token
	client, err := rest.HTTPClientFor(acfg)
	if err != nil {
		c.Outcome, c.Detail = observe.Error, err.Error()
		return c
	}
	client.Timeout = timeout
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(acfg.Host, "/")+path, nil)
	if err != nil {
		c.Outcome, c.Detail = observe.Error, err.Error()
		return c
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		c.Outcome, c.Detail = observe.Error, err.Error()
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			c.Outcome = observe.Timeout
		}
		return c
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	c.Latency, c.HTTPStatus = time.Since(start), resp.StatusCode
	c.Detail = fmt.Sprintf("HTTP %d", resp.StatusCode)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		c.Outcome = observe.OK
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		c.Outcome, c.Detail = observe.HTTPError, c.Detail+": a redirect, not followed (a token is never re-sent elsewhere)"
	default:
		c.Outcome = observe.HTTPError
	}
	return c
}
