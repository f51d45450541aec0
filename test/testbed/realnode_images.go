package testbed

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/keptn-sandbox/job-executor-knative/test/fetcher"
)

// imageFile is one entry of an image's single layer.
type imageFile struct {
	path    string // without the leading "/"
	mode    int64
	content []byte // for a regular file
	link    string // for a symlink
	dir     bool
}

// buildImages writes the real node's images as tarballs into dir, the way
// ko builds an image: a static Go binary (or busybox-static) in one layer on
// an empty base, with the user and entrypoint in the config.
func buildImages(ctx context.Context, src, dir string, log io.Writer) error {
	start := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pause, err := goBinary(ctx, src, dir, "pause", "./cmd/pause")
	if err != nil {
		return err
	}
	fetcherPath, err := fetcher.Build(ctx, dir)
	if err != nil {
		return err
	}
	fetcherBin, err := os.ReadFile(fetcherPath)
	if err != nil {
		return err
	}
	busybox, err := busyboxFiles()
	if err != nil {
		return err
	}
	nonroot := "65532:65532"
	images := []struct {
		ref   string
		files []imageFile
		cfg   v1.Config
	}{
		{RealPauseImage, []imageFile{{path: "pause", mode: 0o755, content: pause}}, v1.Config{Entrypoint: []string{"/pause"}, User: nonroot}},
		{RealFetcherImage, []imageFile{{path: "initcontainer", mode: 0o755, content: fetcherBin}}, v1.Config{Entrypoint: []string{"/initcontainer"}, User: nonroot}},
		{RealToolsImage, busybox, v1.Config{Cmd: []string{"sh"}, User: nonroot, Env: []string{"PATH=/bin"}}},
		{RealRootImage, busybox, v1.Config{Cmd: []string{"sh"}, User: "0:0", Env: []string{"PATH=/bin"}}},
	}
	for _, im := range images {
		if err := writeImage(filepath.Join(dir, safeName(im.ref)+".tar"), im.ref, im.files, im.cfg); err != nil {
			return fmt.Errorf("testbed: image %s: %w", im.ref, err)
		}
	}
	fmt.Fprintf(log, "testbed: real node images built in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func goBinary(ctx context.Context, src, dir, name, pkg string) ([]byte, error) {
	out := filepath.Join(dir, name)
	if err := goRun(ctx, src, []string{"CGO_ENABLED=0"}, io.Discard, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// busyboxFiles is Debian's static busybox with a link per applet, and the
// mount points a restricted pod needs in a read-only root.
func busyboxFiles() ([]imageFile, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox-static: %w", err)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	files := []imageFile{{path: "bin", dir: true, mode: 0o755}, {path: "bin/busybox", mode: 0o755, content: bin},
		{path: "tmp", dir: true, mode: 0o1777}, {path: "etc", dir: true, mode: 0o755}}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			files = append(files, imageFile{path: "bin/" + applet, link: "busybox", mode: 0o777})
		}
	}
	return files, nil
}

func writeImage(path, ref string, files []imageFile, cfg v1.Config) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Size: int64(len(f.content))}
		switch {
		case f.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case f.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		case len(f.content) == 0:
			return fmt.Errorf("%s is empty", f.path)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.content); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", runtime.GOARCH, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

func safeName(ref string) string { return cacheKey(ref) }
