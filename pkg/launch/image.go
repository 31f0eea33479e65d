package launch

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultImage is netcheck's probe image, pinned by digest: it runs
// privileged on every node, so a moved tag or a pre-seeded image under the
// same name must not be what runs. It is busybox built from Debian's source
// with cmd/netcheck-ping and cmd/netcheck-wget, by e2e/cluster/build.sh, byte
// for byte reproducible (the e2e suite checks that the lab's image has this
// digest). Any busybox with ping, nc, wget -T, nslookup, ip and nsenter will
// do in its place; in a restricted namespace, without netcheck-ping, ping
// then says it cannot run, and without netcheck-wget, https checks do.
const DefaultImage = "ghcr.io/netcheck/probe:1.35.0@sha256:" + defaultDigest

const defaultDigest = "70f7fb6e6eacd0bfa56353e30246a9a5e24d4360af89500e014b3fd17b7aa9a0"

// imageRef is what --image accepts: a reference without spaces or shell
// metacharacters, optionally pinned as NAME[:TAG]@sha256:<64 hex>.
var imageRef = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$`)

// ValidateImage says what is wrong with an image reference, or nil.
func ValidateImage(ref string) error {
	if !imageRef.MatchString(ref) || strings.Contains(ref, "//") || strings.HasSuffix(ref, ":") {
		return fmt.Errorf("%q is not an image reference: give NAME[:TAG][@sha256:DIGEST], such as %s", ref, DefaultImage)
	}
	return nil
}

// Digest is the sha256 digest a reference pins ("sha256:…"), or "".
func Digest(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ""
}

// VerifyImage checks that the probe container runs the image its spec
// pins: the runtime reports what it resolved in imageID. An imageID that is
// a bare image id (no repository digest) cannot be compared and passes.
func VerifyImage(p *corev1.Pod) error {
	for _, c := range p.Spec.Containers {
		want := Digest(c.Image)
		if want == "" {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != c.Name || cs.ImageID == "" {
				continue
			}
			got := Digest(cs.ImageID)
			if got != "" && got != want {
				return fatalf("node %s runs image %s for probe pod %s, not the pinned %s: the node's image store does not hold what the reference names; "+
					"nothing was run in it. Re-import or re-pull the image on that node (crictl rmi, then pull by digest)", p.Spec.NodeName, cs.ImageID, p.Name, c.Image)
			}
		}
	}
	return nil
}
