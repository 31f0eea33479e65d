// Package podexec runs argv-only commands in probe pods through the exec
// subresource. No shell is involved: what the caller passes is what runs.
package podexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// Result is what one command did. Err is set when the command could not be
// run or its exit status is unknown; a non-zero exit alone is not an error.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
	Err      error
	// Truncated: a stream passed MaxOutput and the rest was dropped; what
	// was kept must not be judged as if whole.
	Truncated bool
}

// MaxOutput bounds what one exec's stdout or stderr may hold in memory:
// a kube-proxy ruleset of tens of thousands of Services is tens of MiB.
const MaxOutput = 64 << 20

// capped keeps the first max bytes and drains the rest, so the remote
// side is never blocked and the plugin's memory stays bounded.
type capped struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.truncated = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}

// Execer runs argv in a container of a pod.
type Execer interface {
	Exec(ctx context.Context, namespace, pod, container string, argv []string) Result
}

// Remote is the Execer backed by a real API server. It prefers the
// WebSocket protocol and falls back to SPDY for older servers.
type Remote struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec implements Execer.
func (r *Remote) Exec(ctx context.Context, namespace, pod, container string, argv []string) Result {
	req := r.Client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   argv,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	exec, err := newExecutor(r.Config, req.URL())
	if err != nil {
		return Result{Err: err, ExitCode: -1}
	}
	stdout, stderr := &capped{max: MaxOutput}, &capped{max: MaxOutput}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	res := Result{Stdout: stdout.buf.String(), Stderr: stderr.buf.String(), Truncated: stdout.truncated || stderr.truncated}
	var exitErr utilexec.CodeExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.Code
	default:
		res.ExitCode = -1
		res.Err = err
	}
	return res
}

func newExecutor(cfg *rest.Config, url *url.URL) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, url)
	if err != nil {
		return nil, fmt.Errorf("exec (spdy): %w", err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, url.String())
	if err != nil {
		return nil, fmt.Errorf("exec (websocket): %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}
