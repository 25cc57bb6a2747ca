package main

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// untar extracts a .tar.gz of plain files into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
		out, err := os.OpenFile(filepath.Join(dir, filepath.Base(h.Name)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		require.NoError(t, err)
		_, err = io.Copy(out, tr)
		require.NoError(t, err)
		require.NoError(t, out.Close())
	}
}

// TestVersion3SpoolIsUpgraded: a spool written by the previous release
// (format v3, directly in data_dir) left by a kill -9 with 50 updates
// confirmed to Telegram and not delivered is moved into
// <data_dir>/<bot id>/, upgraded, and every one of its updates delivered.
// testdata/v3spool.tar.gz was made by that release for bot 123456789:
// updates 1-50, texts "v3-0" to "v3-49", none delivered.
func TestVersion3SpoolIsUpgraded(t *testing.T) {
	dataDir := t.TempDir()
	untar(t, "testdata/v3spool.tar.gz", dataDir)
	fake, apiURL := newFake(t)
	fake.SetNextUpdateID(51)
	a := newApp(t, nil)
	p := startBot(t, apiURL, a.srv.URL, "--data-dir", dataDir)
	eventually(t, 20*time.Second, func() bool {
		return len(a.texts()) == 50
	}, "the stored updates delivered")
	fake.AddUpdate("message", textMessage(9, 9, 1, "new"))
	eventually(t, 20*time.Second, func() bool { return a.count() >= 51 }, "a new update delivered after them")
	assert.Equal(t, 0, p.stop(20*time.Second))
	for k, n := range a.texts() {
		if strings.HasPrefix(k, "v3-") {
			assert.Equal(t, 1, n, "%s delivered once", k)
		}
	}
	assert.Contains(t, p.out.String(), "moved the spool")
	assert.FileExists(t, filepath.Join(dataDir, "123456789", "spool.db"))
	assert.NoFileExists(t, filepath.Join(dataDir, "spool.db"))
}
