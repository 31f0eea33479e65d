# Release archives and the krew manifest this repository serves as its own krew
# index. Included by the Makefile (-include mk/*.mk), so SHELL comes from there.
#
#   make dist            dist/kubectl-netcheck_<release>_<os>_<arch>.tar.gz (.zip on
#                        windows) for every DIST_PLATFORMS entry, dist/checksums.txt,
#                        and dist/netcheck.yaml rendered from krew-manifest.yaml
#   make plugins         the same, then plugins/netcheck.yaml from it: commit that
#                        file on its own, after the change it follows
#   make plugins-check   fails if the archives rebuilt here do not have the sha256s
#                        plugins/netcheck.yaml names (CI, in .ci/krew.sh)
#
# The archives are reproducible, so that a committed manifest can name their
# sha256 and anyone can rebuild them and compare:
# - the binaries: -trimpath, -buildvcs=false, -buildid=, the Go toolchain go.mod
#   names (GOTOOLCHAIN fetches it from the module proxy if this one differs);
# - the stamps: RELEASE, the commit of the newest change to DIST_INPUTS, and its
#   commit time as SOURCE_DATE_EPOCH. The manifest's own commit is not among the
#   inputs, which is why it is committed on its own: a commit holding both a
#   source change and the manifest rendered before it would stamp itself;
# - tar with sorted names, owner 0, mtime SOURCE_DATE_EPOCH, ustar; gzip -n;
#   zip -X with every mtime at SOURCE_DATE_EPOCH in UTC.

# The release this tree is: raise it to cut a release, then `make plugins`.
RELEASE        := v0.9.0
DIST_DIR       := dist
DIST_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
KREW_TEMPLATE  := krew-manifest.yaml
KREW_MANIFEST  := plugins/netcheck.yaml
# What goes into the archives and the manifest (tests and their data do not).
DIST_INPUTS    := cmd pkg go.mod go.sum LICENSE Makefile mk $(KREW_TEMPLATE) \
	':(exclude,glob)**/*_test.go' ':(exclude,glob)**/testdata/**'
DIST_GO        := go$(shell awk '/^go /{print $$2; exit}' go.mod)
DIST_COMMIT    := $(shell git log -1 --format=%H -- $(DIST_INPUTS) 2>/dev/null)
DIST_DIRTY     := $(if $(shell git status --porcelain -- $(DIST_INPUTS) 2>/dev/null),-dirty)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct -- $(DIST_INPUTS) 2>/dev/null)
DIST_DATE      := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
DIST_PKG       := github.com/netcheck/kubectl-netcheck/pkg/cmd
DIST_LDFLAGS   := -s -w -buildid= -X $(DIST_PKG).Version=$(RELEASE) \
	-X $(DIST_PKG).Commit=$(DIST_COMMIT)$(DIST_DIRTY) -X $(DIST_PKG).Date=$(DIST_DATE)
export SOURCE_DATE_EPOCH

# kubectl >= 1.26 completes "kubectl netcheck <TAB>" by running this from PATH.
define DIST_COMPLETE_SH
#!/bin/sh
# kubectl (1.26+) runs kubectl_complete-netcheck from PATH to complete the
# arguments of "kubectl netcheck"; cobra answers through __complete.
exec kubectl netcheck __complete "$$@"
endef
define DIST_COMPLETE_CMD
@echo off
rem kubectl (1.26+) runs kubectl_complete-netcheck from PATH to complete the
rem arguments of "kubectl netcheck"; cobra answers through __complete.
kubectl netcheck __complete %*
endef
export DIST_COMPLETE_SH DIST_COMPLETE_CMD

.PHONY: dist krew-manifest plugins plugins-check

dist:
	@command -v zip >/dev/null || { echo "make dist: zip is needed for the windows archives (apt-get install zip)" >&2; exit 1; }
	@test -f LICENSE || { echo "make dist: no LICENSE at the top of the repo: every archive must carry one (krew-index and validate-krew-manifest refuse a plugin without it)" >&2; exit 1; }
	@test -n "$(SOURCE_DATE_EPOCH)" -a -n "$(DIST_COMMIT)" || { echo "make dist: not a git checkout with history: the archives are stamped with the commit and time of the newest change to $(DIST_INPUTS)" >&2; exit 1; }
	rm -rf $(DIST_DIR)
	mkdir -p $(DIST_DIR)/.stage
	@echo "dist: $(RELEASE), sources at $(DIST_COMMIT)$(DIST_DIRTY) ($(DIST_DATE)), $(DIST_GO), platforms $(DIST_PLATFORMS)"
	@set -euo pipefail; export TZ=UTC GOTOOLCHAIN=$(DIST_GO); \
	for p in $(DIST_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; exe=; [ "$$os" = windows ] && exe=.exe; \
		stage=$(DIST_DIR)/.stage/$${os}_$${arch}; \
		name=kubectl-netcheck_$(RELEASE)_$${os}_$${arch}; \
		mkdir -p "$$stage"; \
		start=$$(date +%s); \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -buildvcs=false -ldflags '$(DIST_LDFLAGS)' \
			-o "$$stage/kubectl-netcheck$$exe" ./cmd/kubectl-netcheck; \
		cp LICENSE "$$stage/LICENSE"; \
		printf '%s\n' "$$DIST_COMPLETE_SH" > "$$stage/kubectl_complete-netcheck"; \
		chmod 0755 "$$stage/kubectl_complete-netcheck" "$$stage/kubectl-netcheck$$exe"; \
		chmod 0644 "$$stage/LICENSE"; \
		if [ "$$os" = windows ]; then \
			printf '%s\n' "$$DIST_COMPLETE_CMD" | sed 's/$$/\r/' > "$$stage/kubectl_complete-netcheck.cmd"; \
			chmod 0644 "$$stage/kubectl_complete-netcheck.cmd"; \
			touch -d "@$(SOURCE_DATE_EPOCH)" "$$stage"/*; \
			(cd "$$stage" && zip -q -X "../../$$name.zip" kubectl-netcheck.exe kubectl_complete-netcheck kubectl_complete-netcheck.cmd LICENSE); \
		else \
			tar -C "$$stage" --sort=name --owner=0 --group=0 --numeric-owner --format=ustar \
				--mtime="@$(SOURCE_DATE_EPOCH)" -cf - \
				kubectl-netcheck kubectl_complete-netcheck LICENSE | gzip -n -9 > $(DIST_DIR)/$$name.tar.gz; \
		fi; \
		echo "dist: $$name ($$(( $$(date +%s) - start ))s)"; \
	done
	rm -rf $(DIST_DIR)/.stage
	cd $(DIST_DIR) && sha256sum kubectl-netcheck_* > checksums.txt
	echo $(RELEASE) > $(DIST_DIR)/version
	@cat $(DIST_DIR)/checksums.txt
	@$(MAKE) --no-print-directory krew-manifest

# Renders krew-manifest.yaml into dist/netcheck.yaml: {{ .TagName }} becomes the
# release, each "{{ .Sha256 }}" the sha256 (from dist/checksums.txt) of the
# archive on the uri line above it. KREW_PARTIAL=1 leaves out the platforms
# not built (a test manifest; never committed).
krew-manifest:
	@test -f $(DIST_DIR)/checksums.txt -a -f $(DIST_DIR)/version || { echo "make krew-manifest: run 'make dist' first" >&2; exit 1; }
	@set -euo pipefail; v=$$(cat $(DIST_DIR)/version); \
	awk -v ver="$$v" -v partial="$(KREW_PARTIAL)" -v commit="$(DIST_COMMIT)$(DIST_DIRTY)" ' \
		function flush() { if (blk != "" && !drop) printf "%s", blk; blk = ""; drop = 0; inblk = 0 } \
		FNR == NR { sha[$$2] = $$1; next } \
		!body && /^#/ { next } \
		!body { body = 1; printf "# Rendered by make plugins from $(KREW_TEMPLATE) for %s, sources at %s.\n# Do not edit: change the template and run make plugins.\n", ver, commit } \
		{ gsub(/\{\{ *\.TagName *\}\}/, ver) } \
		/^  - selector:/ { flush(); inblk = 1 } \
		/^ *uri: / { n = split($$2, part, "/"); file = part[n] } \
		/^ *sha256: "\{\{ *\.Sha256 *\}\}"/ { \
			if (!(file in sha)) { \
				if (partial != "") { drop = 1; next } \
				printf "krew-manifest: %s is not in $(DIST_DIR)/checksums.txt\n", file > "/dev/stderr"; bad = 1; exit 1 \
			} \
			sub(/"\{\{ *\.Sha256 *\}\}"/, sha[file]); kept++ \
		} \
		inblk { blk = blk $$0 "\n"; next } \
		{ print } \
		END { if (bad) exit 1; flush(); if (!kept) { print "krew-manifest: no platform of the manifest was built" > "/dev/stderr"; exit 1 } }' \
		$(DIST_DIR)/checksums.txt $(KREW_TEMPLATE) > $(DIST_DIR)/netcheck.yaml.tmp; \
	if grep -n '{{' $(DIST_DIR)/netcheck.yaml.tmp >&2; then echo "make krew-manifest: template left unrendered (above)" >&2; exit 1; fi; \
	mv $(DIST_DIR)/netcheck.yaml.tmp $(DIST_DIR)/netcheck.yaml; \
	echo "krew-manifest: $(DIST_DIR)/netcheck.yaml for $$v"

plugins: dist
	@test -z "$(DIST_DIRTY)" || { echo "make plugins: uncommitted changes in $(DIST_INPUTS): commit them first, so that the manifest names archives anyone can rebuild from a commit" >&2; exit 1; }
	mkdir -p $(dir $(KREW_MANIFEST))
	cp $(DIST_DIR)/netcheck.yaml $(KREW_MANIFEST)
	@echo "plugins: $(KREW_MANIFEST) for $(RELEASE), sources at $(DIST_COMMIT); commit it on its own: git commit $(KREW_MANIFEST)"

plugins-check: dist
	@if cmp -s $(DIST_DIR)/netcheck.yaml $(KREW_MANIFEST); then \
		echo "plugins-check: the archives rebuilt here have the sha256s $(KREW_MANIFEST) names"; \
	else \
		diff -u $(KREW_MANIFEST) $(DIST_DIR)/netcheck.yaml >&2 || true; \
		echo "plugins-check: $(KREW_MANIFEST) does not match the archives rebuilt from sources at $(DIST_COMMIT)$(DIST_DIRTY) (diff above): run make plugins and commit $(KREW_MANIFEST) on its own" >&2; \
		exit 1; \
	fi
