package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// blockSize is the unit kubelet's disk-usage accounting of an emptyDir
// effectively counts in (du-style blocks): a 1-byte file costs 4 KiB.
const blockSize = 4096

// workspace writes fetched files below dir without ever leaving it: all
// access goes through an os.Root, every parent directory must be a real
// directory (not a symlink), and the file itself is opened with O_NOFOLLOW.
// It accounts the space it uses so it can stop BEFORE the limit is crossed.
type workspace struct {
	dir               string
	root              *os.Root
	limit             int64 // 0: no limit
	used              int64
	fileMode, dirMode fs.FileMode
}

func openWorkspace(dir string, limit int64, groupWritable bool) (*workspace, error) {
	// The emptyDir mount exists in a pod; locally, create it.
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: the task containers, maybe another user, read it
		return nil, fail(exitInternal, "workspace %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fail(exitInternal, "workspace %s: %w", dir, err)
	}
	w := &workspace{dir: dir, root: root, limit: limit, fileMode: 0o644, dirMode: 0o755}
	if groupWritable {
		w.fileMode, w.dirMode = 0o664, 0o775
	}
	return w, nil
}

// Close releases the workspace's directory handle. Each file is closed, and
// its error checked, as it is written; nothing is lost here.
func (w *workspace) Close() { _ = w.root.Close() }

func blocks(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

func (w *workspace) reserve(what string, cost int64) error {
	if w.limit > 0 && w.used+cost > w.limit {
		return &exitError{code: exitLimit, err: fmt.Errorf("%w: %s needs %d bytes of disk, %d of %d are used; raise the action's workspace size",
			errLimit, what, cost, w.used, w.limit)}
	}
	w.used += cost
	return nil
}

// write stores content at the relative, already cleaned path uri.
func (w *workspace) write(uri string, content []byte) error {
	parts := strings.Split(uri, "/")
	for i := 1; i < len(parts); i++ {
		if err := w.ensureDir(strings.Join(parts[:i], "/")); err != nil {
			return err
		}
	}
	switch st, err := w.root.Lstat(uri); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fail(exitInternal, "workspace %s: %w", w.dir, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: %s/%s is a symlink", errUnsafe, w.dir, uri)}
	case !st.Mode().IsRegular():
		return &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: %s/%s exists and is not a regular file (a file and a folder of the same name?)", errUnsafe, w.dir, uri)}
	}
	if err := w.reserve(fmt.Sprintf("%q (%d bytes)", uri, len(content)), blocks(int64(len(content)))); err != nil {
		return err
	}
	f, err := w.root.OpenFile(uri, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, w.fileMode)
	if err != nil {
		return w.ioError(uri, err)
	}
	_, err = f.Write(content)
	if err == nil {
		// Explicitly, because the umask may have narrowed the mode and
		// task containers may run as another uid that must read the file.
		err = f.Chmod(w.fileMode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return w.ioError(uri, err)
	}
	return nil
}

func (w *workspace) ensureDir(d string) error {
	st, err := w.root.Lstat(d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := w.reserve(fmt.Sprintf("folder %q", d), blockSize); err != nil {
			return err
		}
		if err := w.root.Mkdir(d, w.dirMode); err != nil {
			return w.ioError(d, err)
		}
		if err := w.root.Chmod(d, w.dirMode); err != nil {
			return w.ioError(d, err)
		}
		return nil
	case err != nil:
		return w.ioError(d, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: %s/%s is a symlink", errUnsafe, w.dir, d)}
	case !st.IsDir():
		return &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: %s/%s is a file but a folder of that name is needed", errUnsafe, w.dir, d)}
	}
	return nil
}

// ioError reports a full disk as the size limit (the emptyDir may be smaller
// than --max-bytes says) and anything else as internal.
func (w *workspace) ioError(name string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &exitError{code: exitLimit, err: fmt.Errorf("%w: writing %s/%s: %w", errLimit, w.dir, name, err)}
	}
	if errors.Is(err, syscall.ELOOP) {
		return &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: %s/%s: %w", errUnsafe, w.dir, name, err)}
	}
	return fail(exitInternal, "writing %s/%s: %w", w.dir, name, err)
}
