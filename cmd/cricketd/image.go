package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/cmd/cricketd/internal/admin"
	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/sockets"
)

const imageUsage = `Usage: cricketd image import [flags] ARCHIVE|-
Import the images of an OCI image layout (a directory), an OCI archive or a
docker archive ('docker save'; gzip allowed), from a file or, with -, from
stdin, with the names the archive gives them. Through the running cricketd
(its admin socket in the state directory); when no cricketd runs, straight
into its store under --root, holding the daemon's lock meanwhile.
`

// imageCmd is `cricketd image import`.
func imageCmd(args []string) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(os.Stderr, imageUsage)
		return exitConfig
	}
	var opts image.ImportOptions
	f, rest, err := parseFlagsArgs("image import", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&opts.Platform, "platform", "", "os/arch[/variant] to import from multi-platform archives (default: the node's)")
		fs.BoolVar(&opts.AllPlatforms, "all-platforms", false, "import every platform of the archive")
		fs.Usage = func() { fmt.Fprint(fs.Output(), imageUsage); fs.PrintDefaults() }
	})
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil && len(rest) != 1 {
		err = fmt.Errorf("%w: want one archive (or -), got %q", errBadFlags, rest)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitConfig
	}
	cfg, _, err := f.load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cricketd: %v\n", err)
		return exitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ims, err := importImages(ctx, cfg, rest[0], opts)
	for _, im := range ims {
		fmt.Printf("imported %s %s\n", im.ID, strings.Join(im.RepoTags, " "))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitError
	}
	return exitOK
}

// importImages imports src through the running daemon, or, when none
// runs, into the store itself.
func importImages(ctx context.Context, cfg *config.Config, src string, opts image.ImportOptions) ([]admin.Imported, error) {
	r, err := openArchive(src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ims, err := admin.Import(ctx, admin.Socket(cfg.State), r, opts)
	if !errors.Is(err, admin.ErrNoDaemon) {
		return ims, err
	}
	return importOffline(ctx, cfg, src, opts)
}

// openArchive reads src: stdin for "-", a tar made on the fly of a
// directory (an OCI layout), else the file.
func openArchive(src string) (io.ReadCloser, error) {
	if src == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return os.Open(src)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(pw, src)) }()
	return pr, nil
}

// tarDir writes the regular files below dir as a tar to w.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: fi.Size(),
			Typeflag: tar.TypeReg, ModTime: fi.ModTime()}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	return tw.Close()
}

// importOffline imports src straight into the store under cfg.Root. It
// takes the locks a daemon takes on its root and state directories, so no
// daemon runs on the store meanwhile (one that starts fails at once and
// says so); a daemon that holds them but does not answer on the admin
// socket is an error.
func importOffline(ctx context.Context, cfg *config.Config, src string, opts image.ImportOptions) ([]admin.Imported, error) {
	for _, dir := range []string{cfg.Root, cfg.State} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
		lock, err := sockets.Lock(filepath.Join(dir, "cricketd.lock"))
		if errors.Is(err, sockets.ErrInUse) {
			return nil, fmt.Errorf("a cricketd runs on %s but does not answer on %s: %w", dir, admin.Socket(cfg.State), err)
		}
		if err != nil {
			return nil, err
		}
		defer lock.Close()
	}
	// Log lines of the store's start-up go to stderr only when asked for.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	svc, err := image.New(ctx, imageOptions(cfg, nil))
	if err != nil {
		return nil, err
	}
	var ims []image.Image
	if src == "-" {
		ims, err = svc.ImportReader(ctx, os.Stdin, opts)
	} else {
		ims, err = svc.Import(ctx, src, opts)
	}
	var out []admin.Imported
	for _, im := range ims {
		out = append(out, admin.Imported{ID: im.ID, RepoTags: im.RepoTags})
	}
	return out, err
}
