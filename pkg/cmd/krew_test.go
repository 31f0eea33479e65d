package cmd

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The krew manifest's shape, as far as these tests read it.
type krewPlugin struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version   string `json:"version"`
		Caveats   string `json:"caveats"`
		Platforms []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

func readKrew(t *testing.T, path string) krewPlugin {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
	return p
}

// krew-manifest.yaml is valid YAML as it stands (its template expressions
// inside scalars), and every platform's uri names that platform's archive.
func TestKrewTemplateIsValidYAML(t *testing.T) {
	p := readKrew(t, "../../krew-manifest.yaml")
	if p.Kind != "Plugin" || p.Metadata.Name != "netcheck" || p.Spec.Version != "{{ .TagName }}" {
		t.Fatalf("kind %q, name %q, version %q", p.Kind, p.Metadata.Name, p.Spec.Version)
	}
	if len(p.Spec.Platforms) != 6 {
		t.Fatalf("%d platforms, want the six of mk/dist.mk", len(p.Spec.Platforms))
	}
	for _, pl := range p.Spec.Platforms {
		osArch := pl.Selector.MatchLabels["os"] + "_" + pl.Selector.MatchLabels["arch"]
		if !strings.Contains(pl.URI, "_{{ .TagName }}_"+osArch+".") || pl.Sha256 != "{{ .Sha256 }}" {
			t.Errorf("%s: uri %q, sha256 %q", osArch, pl.URI, pl.Sha256)
		}
	}
}

// plugins/netcheck.yaml is the template rendered for RELEASE: the same
// platforms, real sha256s (CI's krew stage checks they are the archives').
func TestKrewManifestRenderedForTheRelease(t *testing.T) {
	tmpl := readKrew(t, "../../krew-manifest.yaml")
	p := readKrew(t, "../../plugins/netcheck.yaml")
	mk, err := os.ReadFile("../../mk/dist.mk")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RELEASE +:= +(\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no RELEASE in mk/dist.mk")
	}
	release := string(m[1])
	if p.Spec.Version != release {
		t.Errorf("plugins/netcheck.yaml is for %s, mk/dist.mk's RELEASE is %s: run make plugins", p.Spec.Version, release)
	}
	if p.Spec.Caveats != tmpl.Spec.Caveats || len(p.Spec.Platforms) != len(tmpl.Spec.Platforms) {
		t.Fatal("plugins/netcheck.yaml is not krew-manifest.yaml rendered: run make plugins")
	}
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for i, pl := range p.Spec.Platforms {
		if want := strings.ReplaceAll(tmpl.Spec.Platforms[i].URI, "{{ .TagName }}", release); pl.URI != want {
			t.Errorf("platform %d: uri %q, want %q", i, pl.URI, want)
		}
		if !hex.MatchString(pl.Sha256) {
			t.Errorf("platform %d: sha256 %q", i, pl.Sha256)
		}
	}
}
