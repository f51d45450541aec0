package policy

import "strings"

// dockerHubAliases are the names that reach Docker Hub: docker.io is what
// people write, registry-1.docker.io is where Docker and containerd
// actually pull from, index.docker.io and registry.hub.docker.com are
// older names that still answer.
var dockerHubAliases = map[string]bool{
	dockerHubAlias:            true,
	dockerHub:                 true,
	"registry-1.docker.io":    true,
	"registry.hub.docker.com": true,
}

// NormalizeHost spells a registry host the way container runtimes resolve
// it, so that a rule written for one spelling holds for all of them: host
// names are case-insensitive (GHCR.IO is ghcr.io), a trailing dot names the
// same DNS host (ghcr.io.), 443 is the port a runtime uses anyway
// (ghcr.io:443), and Docker Hub answers under several names
// (registry-1.docker.io, docker.io:443), all written index.docker.io.
// Other ports stay: localhost:5000 is another registry than localhost.
// Wildcards pass through, so a pattern's host is normalised the same way.
func NormalizeHost(h string) string {
	h = strings.ToLower(h)
	host, port := h, ""
	// An IPv6 literal is written [::1]:5000; its colons are not the port's.
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]:"); i >= 0 {
			host, port = h[:i+1], h[i+2:]
		}
	} else if i := strings.LastIndex(h, ":"); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	host = strings.TrimSuffix(host, ".")
	if port == "443" {
		port = ""
	}
	if port == "" && dockerHubAliases[host] {
		return dockerHub
	}
	if port != "" {
		return host + ":" + port
	}
	return host
}

// splitHost splits a reference or pattern at its registry host, by
// Docker's rule: the first path segment is a host when it holds a dot or a
// colon or is localhost (in any case). ok is false when there is none
// (alpine, acme/tool: Docker Hub).
func splitHost(ref string) (host, rest string, ok bool) {
	first, rest, hasRest := strings.Cut(ref, "/")
	if !hasRest {
		return "", ref, false
	}
	if strings.ContainsAny(first, ".:") || strings.EqualFold(first, "localhost") {
		return first, rest, true
	}
	return "", ref, false
}

// normalizeRef rewrites the host of a reference with NormalizeHost and
// leaves the rest (repository path, tag, digest) as written, for the
// reference parser to check.
func normalizeRef(ref string) string {
	host, rest, ok := splitHost(ref)
	if !ok {
		return ref
	}
	return NormalizeHost(host) + "/" + rest
}
