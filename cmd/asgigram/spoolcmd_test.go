package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asgigram/asgigram/adapter"
	"github.com/asgigram/asgigram/spool"
)

// runSpoolCmd runs `asgigram spool args...` in this process.
func runSpoolCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), append([]string{"spool"}, args...))
	require.NotContains(t, out.String(), testToken)
	require.NotContains(t, out.String(), strings.Split(testToken, ":")[1], "no part of the token")
	return code, out.String()
}

// botSpool makes a sound spool for bot id under dataDir, with one waiting
// update, and returns its directory.
func botSpool(t *testing.T, dataDir string, id int64) string {
	t.Helper()
	dir, _, err := spool.BotDir(dataDir, id)
	require.NoError(t, err)
	s, err := spool.Open(dir, spool.Options{BotID: id, APIURL: "https://api.telegram.org"})
	require.NoError(t, err)
	_, err = s.Append([]adapter.Update{{ID: 41, Raw: []byte(`{"update_id":41}`)}}, adapter.Position{Offset: 42})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return dir
}

// TestSpoolCommandFindsTheSpool: --data-dir names a bot's directory or a
// data_dir; the bot comes from --bot-id or the token; several bots need one
// of them. Exit codes: 0 sound, 2 usage.
func TestSpoolCommandFindsTheSpool(t *testing.T) {
	for _, k := range []string{"ASGIGRAM_TOKEN", "ASGIGRAM_TOKEN_FILE", "ASGIGRAM_CONFIG", "ASGIGRAM_DATA_DIR"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dataDir := t.TempDir()
	one := botSpool(t, dataDir, 111)

	code, out := runSpoolCmd(t, "check", "--data-dir", one)
	require.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "bot id:        111")
	assert.Contains(t, out, "offset:        42 (epoch 0)")
	assert.Contains(t, out, "waiting:       1 updates")
	assert.Contains(t, out, "api url:       https://api.telegram.org")
	assert.Contains(t, out, "result:        sound")

	code, out = runSpoolCmd(t, "check", "--data-dir", dataDir)
	require.Equal(t, ExitOK, code, "the only bot directory: %s", out)
	assert.Contains(t, out, "spool:         "+one)

	botSpool(t, dataDir, 222)
	code, out = runSpoolCmd(t, "check", "--data-dir", dataDir)
	require.Equal(t, ExitConfig, code, out)
	assert.Contains(t, out, "111, 222")
	assert.Contains(t, out, "--bot-id")

	code, out = runSpoolCmd(t, "check", "--data-dir", dataDir, "--bot-id", "222")
	require.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "bot id:        222")

	t.Setenv("ASGIGRAM_TOKEN", "111:"+strings.Split(testToken, ":")[1])
	code, out = runSpoolCmd(t, "check", "--data-dir", dataDir)
	require.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "bot id:        111", "the token's bot")

	t.Setenv("ASGIGRAM_DATA_DIR", dataDir)
	code, out = runSpoolCmd(t, "check")
	require.Equal(t, ExitOK, code, "data_dir and the bot from the configuration: %s", out)
	assert.Contains(t, out, "spool:         "+one)

	for _, args := range [][]string{
		{},
		{"repair"},
		{"check", "extra"},
		{"check", "--bot-id", "x"},
		{"check", "--no-such-flag"},
		{"check", "--data-dir", filepath.Join(dataDir, "nothing-here")},
		{"check", "--data-dir", dataDir, "--bot-id", "333"},
	} {
		code, out := runSpoolCmd(t, args...)
		assert.Equal(t, ExitConfig, code, "%v: %s", args, out)
	}
	code, out = runSpoolCmd(t, "--help")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, out, "Usage: asgigram spool")
}

// TestSpoolCommandExitCodes: 4 for a damaged spool (check) and for one of
// which nothing can be salvaged, 1 while asgigram runs on it, 0 after a
// salvage.
func TestSpoolCommandExitCodes(t *testing.T) {
	t.Setenv("ASGIGRAM_TOKEN", "")
	os.Unsetenv("ASGIGRAM_TOKEN")
	dataDir := t.TempDir()
	dir := botSpool(t, dataDir, 111)

	s, err := spool.Open(dir, spool.Options{})
	require.NoError(t, err)
	code, out := runSpoolCmd(t, "check", "--data-dir", dir)
	assert.Equal(t, ExitFailure, code, out)
	assert.Contains(t, out, "asgigram is running on this spool")
	code, out = runSpoolCmd(t, "salvage", "--data-dir", dir)
	assert.Equal(t, ExitFailure, code, out)
	require.NoError(t, s.Close())

	code, out = runSpoolCmd(t, "salvage", "--data-dir", dir)
	assert.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "nothing to salvage, nothing changed")

	// The log removed after an unclean stop: the offset is in spool.db.
	crashed := t.TempDir()
	s, err = spool.Open(crashed, spool.Options{BotID: 111})
	require.NoError(t, err)
	_, err = s.Append([]adapter.Update{{ID: 7, Raw: []byte(`{"update_id":7}`)}}, adapter.Position{Offset: 8})
	require.NoError(t, err)
	require.NoError(t, s.Close()) // 7 and offset 8 in spool.db
	s, err = spool.Open(crashed, spool.Options{BotID: 111})
	require.NoError(t, err)
	_, err = s.Append([]adapter.Update{{ID: 8, Raw: []byte(`{"update_id":8}`)}}, adapter.Position{Offset: 9})
	require.NoError(t, err)
	for _, name := range []string{spool.FileName, spool.WALName} {
		b, err := os.ReadFile(filepath.Join(crashed, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	require.NoError(t, s.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, spool.WALName)))
	code, out = runSpoolCmd(t, "check", "--data-dir", dir)
	require.Equal(t, ExitSpoolDamaged, code, out)
	assert.Contains(t, out, "write-ahead log is missing")
	assert.Contains(t, out, "may be lost:   the write-ahead log is missing: updates from id 8 on")
	code, out = runSpoolCmd(t, "salvage", "--data-dir", dir)
	require.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "holds 1 updates, 0 dead letters and offset 8")
	code, out = runSpoolCmd(t, "check", "--data-dir", dir)
	require.Equal(t, ExitOK, code, out)

	// Nothing readable: a cut log beside an empty spool.db.
	empty := filepath.Join(t.TempDir(), "111")
	require.NoError(t, os.MkdirAll(empty, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(empty, spool.WALName), []byte("garbage, not a record"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(empty, spool.FileName), nil, 0o600))
	code, out = runSpoolCmd(t, "salvage", "--data-dir", empty)
	assert.Equal(t, ExitOK, code, "no damage: an empty spool.db and a log without records are a new spool: %s", out)
	require.NoError(t, os.WriteFile(filepath.Join(empty, spool.FileName), []byte("not a bbolt file at all, long enough to be read"), 0o600))
	code, out = runSpoolCmd(t, "salvage", "--data-dir", empty)
	assert.Equal(t, ExitSpoolDamaged, code, out)
	assert.Contains(t, out, "nothing could be salvaged")
	b, err := os.ReadFile(filepath.Join(empty, spool.FileName))
	require.NoError(t, err)
	assert.Contains(t, string(b), "not a bbolt file", "left as it was")
}

// TestSpoolCommandAccessError: a spool the user may not read is an access
// error naming the path (exit 1), not damage.
func TestSpoolCommandAccessError(t *testing.T) {
	dir := botSpool(t, t.TempDir(), 111)
	wal := filepath.Join(dir, spool.WALName)
	require.NoError(t, os.Chmod(wal, 0))
	var code int
	var out string
	if os.Geteuid() != 0 {
		code, out = runSpoolCmd(t, "check", "--data-dir", dir)
	} else {
		// root reads any file: run the binary as nobody.
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root without setpriv: a permission error cannot be made here")
		}
		require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o755))
		bin := filepath.Join(t.TempDir(), "asgigram")
		b, err := os.ReadFile(binPath)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(bin, b, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755))
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "spool", "check", "--data-dir", dir)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
		raw, _ := cmd.CombinedOutput()
		code, out = cmd.ProcessState.ExitCode(), string(raw)
	}
	assert.Equal(t, ExitFailure, code, out)
	assert.Contains(t, out, "access error")
	assert.Contains(t, out, wal)
	assert.Contains(t, out, "permission denied")
}
