# Release archives and the krew manifest. Included by the Makefile
# (-include mk/*.mk), so VERSION, LDFLAGS and SHELL come from there.
#
#   make dist            dist/kubectl-netcheck_<version>_<os>_<arch>.tar.gz (.zip on
#                        windows) for every DIST_PLATFORMS entry, and dist/checksums.txt
#   make krew-manifest   plugins/netcheck.yaml from .krew.yaml, pointing at the release
#                        download URLs with the sha256 of the archives in dist/;
#                        KREW_PARTIAL=1 keeps only the platforms built (a test manifest)
#   make dist VERSION=v0.2.0   for a release (the tag krew-release-bot will see)

DIST_DIR       := dist
DIST_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
KREW_TEMPLATE  := .krew.yaml
KREW_MANIFEST  := plugins/netcheck.yaml
RELEASE_URL    := https://github.com/netcheck/kubectl-netcheck/releases/download

# krew wants a semantic version with a leading v. A tag (v1.2.3, or
# v1.2.3-4-gabcdef past it) is used as is; an untagged tree, where git
# describe gives a bare commit, becomes v0.0.0-git-<commit>[-dirty].
DIST_VERSION := $(shell v='$(VERSION)'; \
	if printf '%s\n' "$$v" | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$$' >/dev/null; then echo "$$v"; \
	else printf 'v0.0.0-git-%s\n' "$$v" | tr -c 'A-Za-z0-9.\n-' '-'; fi)
# The Makefile's LDFLAGS, with the version the archives are named after.
DIST_LDFLAGS := $(subst cmd.Version=$(VERSION) ,cmd.Version=$(DIST_VERSION) ,$(LDFLAGS))

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

.PHONY: dist krew-manifest

dist:
	@command -v zip >/dev/null || { echo "make dist: zip is needed for the windows archives (apt-get install zip)" >&2; exit 1; }
	@test -f LICENSE || { echo "make dist: no LICENSE at the top of the repo: every archive must carry one (krew-index and validate-krew-manifest refuse a plugin without it)" >&2; exit 1; }
	rm -rf $(DIST_DIR)
	mkdir -p $(DIST_DIR)/.stage
	@echo "dist: version $(DIST_VERSION), platforms $(DIST_PLATFORMS)"
	@set -euo pipefail; \
	for p in $(DIST_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; exe=; [ "$$os" = windows ] && exe=.exe; \
		stage=$(DIST_DIR)/.stage/$${os}_$${arch}; \
		name=kubectl-netcheck_$(DIST_VERSION)_$${os}_$${arch}; \
		mkdir -p "$$stage"; \
		start=$$(date +%s); \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags '$(DIST_LDFLAGS)' \
			-o "$$stage/kubectl-netcheck$$exe" ./cmd/kubectl-netcheck; \
		cp LICENSE "$$stage/LICENSE"; \
		printf '%s\n' "$$DIST_COMPLETE_SH" > "$$stage/kubectl_complete-netcheck"; \
		chmod 0755 "$$stage/kubectl_complete-netcheck" "$$stage/kubectl-netcheck$$exe"; \
		chmod 0644 "$$stage/LICENSE"; \
		if [ "$$os" = windows ]; then \
			printf '%s\n' "$$DIST_COMPLETE_CMD" | sed 's/$$/\r/' > "$$stage/kubectl_complete-netcheck.cmd"; \
			(cd "$$stage" && zip -q -X "../../$$name.zip" kubectl-netcheck.exe kubectl_complete-netcheck kubectl_complete-netcheck.cmd LICENSE); \
		else \
			tar -C "$$stage" --sort=name --owner=0 --group=0 --numeric-owner -cf - \
				kubectl-netcheck kubectl_complete-netcheck LICENSE | gzip -n > $(DIST_DIR)/$$name.tar.gz; \
		fi; \
		echo "dist: $$name ($$(( $$(date +%s) - start ))s)"; \
	done
	rm -rf $(DIST_DIR)/.stage
	cd $(DIST_DIR) && sha256sum kubectl-netcheck_* > checksums.txt
	echo $(DIST_VERSION) > $(DIST_DIR)/version
	@cat $(DIST_DIR)/checksums.txt

# Renders .krew.yaml the way krew-release-bot does ({{ .TagName }} and
# {{addURIAndSha "<url>" .TagName }}), taking each sha256 from dist/checksums.txt.
krew-manifest:
	@test -f $(DIST_DIR)/checksums.txt -a -f $(DIST_DIR)/version || { echo "make krew-manifest: run 'make dist' first" >&2; exit 1; }
	mkdir -p $(dir $(KREW_MANIFEST))
	@set -euo pipefail; v=$$(cat $(DIST_DIR)/version); \
	awk -v ver="$$v" -v partial="$(KREW_PARTIAL)" ' \
		function flush() { if (blk != "" && !drop) printf "%s", blk; blk = ""; drop = 0; inblk = 0 } \
		FNR == NR { sha[$$2] = $$1; next } \
		{ gsub(/\{\{ *\.TagName *\}\}/, ver) } \
		/^  - selector:/ { flush(); inblk = 1 } \
		/^ *\{\{ *addURIAndSha / { \
			ind = $$0; sub(/[^ ].*/, "", ind); \
			url = $$0; sub(/^[^"]*"/, "", url); sub(/".*/, "", url); \
			n = split(url, part, "/"); file = part[n]; \
			if (!(file in sha)) { \
				if (partial != "") { drop = 1; next } \
				printf "krew-manifest: %s is not in $(DIST_DIR)/checksums.txt\n", file > "/dev/stderr"; bad = 1; exit 1 \
			} \
			blk = blk ind "uri: " url "\n" ind "sha256: " sha[file] "\n"; kept++; next \
		} \
		inblk { blk = blk $$0 "\n"; next } \
		{ print } \
		END { if (bad) exit 1; flush(); if (!kept) { print "krew-manifest: no platform of the manifest was built" > "/dev/stderr"; exit 1 } }' $(DIST_DIR)/checksums.txt $(KREW_TEMPLATE) > $(KREW_MANIFEST).tmp; \
	if grep -n '{{' $(KREW_MANIFEST).tmp >&2; then echo "make krew-manifest: template left unrendered (above)" >&2; rm -f $(KREW_MANIFEST).tmp; exit 1; fi; \
	mv $(KREW_MANIFEST).tmp $(KREW_MANIFEST); \
	echo "krew-manifest: $(KREW_MANIFEST) for $$v"
