package testbed

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Temporary bed directories are named <TempDir>/jek-testbed-*/ and record
// the pid of the process that owns them. A test binary killed by a timeout
// or a panic cannot remove its directory (its processes die with it through
// the parent-death signal), so every new bed removes the directories of
// owners that are gone.
const (
	tempDirPattern = "jek-testbed-*"
	ownerFile      = "owner.pid"
)

func newOwnedDir() (string, error) {
	dir, err := os.MkdirTemp("", tempDirPattern)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// sweepStaleDirs removes temporary bed directories whose owner has exited.
// Directories without a readable owner are left alone: they may be being
// created right now.
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPattern))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}
