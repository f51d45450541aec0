package main

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTLS(t *testing.T) {
	f := newFakeKeptnTLS(t)
	jesFiles(f)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644))

	r := runIC(t, f, nil, "--", "small.file")
	assert.Equal(t, exitKeptnError, r.code, "verification is on by default")
	assert.Contains(t, r.stderr, "TLS")
	assert.Empty(t, f.requestLog(), "no request reached the handler, so the token was never sent")

	r = runIC(t, f, map[string]string{"KEPTN_API_CA_FILE": caFile}, "--", "small.file")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, map[string]string{"small.file": "small\n"}, tree(t, r.ws, 0o644, 0o755))

	r = runIC(t, f, map[string]string{"KEPTN_API_INSECURE_SKIP_VERIFY": "true"}, "--", "small.file")
	require.Equal(t, exitOK, r.code, r.stderr)
}
