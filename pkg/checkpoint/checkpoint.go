// Package checkpoint holds what Cricket's checkpoints share with the other
// CRI runtimes' (CRI-O's and containerd's) and with checkpointctl: the file
// names of a container checkpoint archive, the options a client may give,
// the rootfs diff of a container's writable layer, and the writing of the
// archive itself, 0600 at a client-named path resolved without following
// symlinks.
//
// A container archive is an uncompressed tar of:
//
//	checkpoint/        CRIU's images (metadata.CheckpointDirectory)
//	config.dump        metadata.ContainerConfig: names, image, runtime, times
//	spec.dump          the container's OCI runtime spec
//	rootfs-diff.tar    the files the container wrote in its rootfs
//	deleted.files      JSON list of the image's files it deleted
//	container.log      its CRI log (containerd's name)
//	dump.log, stats-dump  CRIU's log and statistics of the dump
package checkpoint

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/securefs"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// ContainerLogFile is the container's CRI log in the archive; containerd
// names it so, CRI-O leaves it out, checkpointctl has no constant for it.
const ContainerLogFile = "container.log"

// Options are the runtime-specific options of CheckpointPod and RestorePod
// (and what CheckpointContainer always uses).
type Options struct {
	// TCPEstablished dumps and restores established TCP connections.
	TCPEstablished bool
}

// OptionTCPEstablished is the one option key Cricket knows: "true" or
// "false".
const OptionTCPEstablished = "tcp-established"

// ParseOptions reads the options map of a CheckpointPod or RestorePod
// request; an unknown key or an invalid value is ErrInvalidArgument, as the
// API demands.
func ParseOptions(m map[string]string) (Options, error) {
	var o Options
	for k, v := range m {
		switch k {
		case OptionTCPEstablished:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Options{}, fmt.Errorf("option %s=%q: not a boolean: %w", k, v, errdefs.ErrInvalidArgument)
			}
			o.TCPEstablished = b
		default:
			return Options{}, fmt.Errorf("option %q is not supported (known: %s): %w", k, OptionTCPEstablished, errdefs.ErrInvalidArgument)
		}
	}
	return o, nil
}

// CheckLocation checks a client-named output path: absolute, clean (no
// "..", no trailing slash) and not the root.
func CheckLocation(p string) error {
	if p == "" || !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
		return fmt.Errorf("checkpoint location %q must be an absolute, clean file path: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}

// WriteRootfsDiff writes to w a tar of what upper, the overlay upper dir
// of a container's rootfs, holds: the files the container created or
// changed. Overlay whiteouts (0:0 character devices) are not archived; the
// paths they delete are returned, absolute in the container, for
// deleted.files. An opaque directory is archived with its content only;
// what it hides of the image is not listed.
func WriteRootfsDiff(upper string, w io.Writer) (deleted []string, err error) {
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if isWhiteout(info) {
			deleted = append(deleted, "/"+rel)
			return nil
		}
		return addEntry(tw, p, rel, info)
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("rootfs diff of %s: %w", upper, err)
	}
	return deleted, nil
}

func isWhiteout(info fs.FileInfo) bool {
	if info.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// addEntry writes one file of a tree the caller trusts not to change
// under it (a stopped walk of its own state, or a frozen writable layer).
func addEntry(tw *tar.Writer, p, rel string, info fs.FileInfo) error {
	var link string
	if info.Mode()&fs.ModeSymlink != 0 {
		l, err := os.Readlink(p)
		if err != nil {
			return err
		}
		link = l
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = filepath.ToSlash(rel)
	if info.IsDir() {
		hdr.Name += "/"
	}
	// Keep numeric owners only: names depend on the host's passwd.
	hdr.Uname, hdr.Gname = "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, info.Size())
	return err
}

// WriteJSON writes v as dir/name, 0600.
func WriteJSON(dir, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return os.WriteFile(filepath.Join(dir, name), data, 0o600)
}

// WriteConfigDump writes config.dump.
func WriteConfigDump(dir string, c metadata.ContainerConfig) error {
	return WriteJSON(dir, metadata.ConfigDumpFile, c)
}

// WriteArchive tars the directory dir into the file location, 0600. The
// parent of location must exist and is resolved without following any
// symlink; the archive is written to a new temporary file beside it and
// renamed over location once complete, so a failure leaves nothing there
// and a symlink at location is replaced, never followed.
func WriteArchive(dir, location string) (retErr error) {
	if err := CheckLocation(location); err != nil {
		return err
	}
	parent, err := securefs.OpenNoSymlinks(filepath.Dir(location), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("checkpoint location %s: %w", location, err)
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	base := filepath.Base(location)
	tmp := "." + base + ".tmp-" + randomSuffix()
	fd, err := unix.Openat(pfd, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create checkpoint archive beside %s: %w", location, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(filepath.Dir(location), tmp))
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if retErr != nil {
			_ = unix.Unlinkat(pfd, tmp, 0)
		}
	}()
	if err := tarDir(dir, f); err != nil {
		return fmt.Errorf("write checkpoint archive %s: %w", location, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync checkpoint archive %s: %w", location, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("close checkpoint archive %s: %w", location, err)
	}
	if err := unix.Renameat(pfd, tmp, pfd, base); err != nil {
		return fmt.Errorf("rename checkpoint archive to %s: %w", location, err)
	}
	return nil
}

func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return addEntry(tw, p, rel, info)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CheckOutputDir checks the output_path of a CheckpointPod request: an
// absolute, clean path to an existing, empty directory, reached without
// following any symlink. Anything else is ErrInvalidArgument.
func CheckOutputDir(p string) error {
	if err := CheckLocation(p); err != nil {
		return err
	}
	f, err := securefs.OpenNoSymlinks(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		if errdefs.Class(err) == nil {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("checkpoint output directory: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read checkpoint output directory %s: %w", p, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("checkpoint output directory %s is not empty: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}

// IsArchiveRef reports whether the image of a CreateContainer request names
// a checkpoint archive on disk rather than an image, as CRI-O and
// containerd accept: an absolute path (no image reference is one).
func IsArchiveRef(ref string) bool { return filepath.IsAbs(ref) }

// maxConfigDump bounds the config.dump read from an archive.
const maxConfigDump = 1 << 20

// OpenArchive opens the checkpoint archive at the client-named path p,
// resolved without following symlinks; it must be a regular file.
func OpenArchive(p string) (*os.File, error) {
	if err := CheckLocation(p); err != nil {
		return nil, err
	}
	f, err := securefs.OpenNoSymlinks(p, unix.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint archive %s: %w", p, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("checkpoint archive: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("checkpoint archive %s is not a regular file: %w", p, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// ReadConfigDump reads config.dump from the checkpoint archive at p.
func ReadConfigDump(p string) (metadata.ContainerConfig, error) {
	var cfg metadata.ContainerConfig
	f, err := OpenArchive(p)
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("checkpoint archive %s has no %s: %w", p, metadata.ConfigDumpFile, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return cfg, fmt.Errorf("read checkpoint archive %s: %w: %w", p, err, errdefs.ErrInvalidArgument)
		}
		if filepath.Clean(hdr.Name) != metadata.ConfigDumpFile || hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := json.NewDecoder(io.LimitReader(tr, maxConfigDump)).Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("%s of checkpoint archive %s: %w: %w", metadata.ConfigDumpFile, p, err, errdefs.ErrInvalidArgument)
		}
		return cfg, nil
	}
}

// Unpack extracts the checkpoint archive at p into dir (which it creates,
// 0700), with snapshot.Unpack's guarantees: nothing is created, changed
// or linked outside dir, whatever the archive holds.
func Unpack(ctx context.Context, p, dir string) error {
	f, err := OpenArchive(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("checkpoint dir: %w", err)
	}
	if _, err := snapshot.Unpack(ctx, dir, f, snapshot.UnpackOptions{}); err != nil {
		return fmt.Errorf("unpack checkpoint archive %s: %w", p, err)
	}
	return nil
}

// ApplyRootfsDiff applies the rootfs changes of an unpacked checkpoint in
// dir to the mounted rootfs: rootfs-diff.tar is extracted over it (never
// outside it) and the files deleted.files lists are removed.
func ApplyRootfsDiff(ctx context.Context, dir, rootfs string) error {
	f, err := os.Open(filepath.Join(dir, metadata.RootFsDiffTar))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		defer f.Close()
		if _, err := snapshot.Unpack(ctx, rootfs, f, snapshot.UnpackOptions{}); err != nil {
			return fmt.Errorf("apply %s: %w", metadata.RootFsDiffTar, err)
		}
	}
	var deleted []string
	if _, err := metadata.ReadJSONFile(&deleted, dir, metadata.DeletedFilesFile); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read %s: %w: %w", metadata.DeletedFilesFile, err, errdefs.ErrInvalidArgument)
	}
	for _, p := range deleted {
		if err := removeBeneath(rootfs, p); err != nil {
			return err
		}
	}
	return nil
}

// removeBeneath removes the file or empty directory p (absolute in the
// container) of rootfs, resolving its parent without leaving rootfs; a
// missing one is no error.
func removeBeneath(rootfs, p string) error {
	rel := strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if rel == "" {
		return fmt.Errorf("%s lists the root: %w", metadata.DeletedFilesFile, errdefs.ErrInvalidArgument)
	}
	parent, err := securefs.OpenBeneath(rootfs, filepath.Dir(rel), unix.O_PATH|unix.O_DIRECTORY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove deleted file %s: %w", p, err)
	}
	defer parent.Close()
	base := filepath.Base(rel)
	err = unix.Unlinkat(int(parent.Fd()), base, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		err = unix.Unlinkat(int(parent.Fd()), base, unix.AT_REMOVEDIR)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove deleted file %s: %w", p, err)
	}
	return nil
}

// CopyInto copies the tree src (Cricket's own scratch dir: directories and
// regular files) to rel below root, the client's output directory: every
// path is created below root, never through a symlink or "..", files
// 0600, directories 0700, none that exists already.
func CopyInto(src, root, rel string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(rel, r)
		switch {
		case d.IsDir():
			return securefs.MkdirAllBeneath(root, dst, 0o700)
		case d.Type().IsRegular():
			return copyBeneath(p, root, dst)
		}
		return fmt.Errorf("checkpoint file %s is neither a file nor a directory: %w", p, errdefs.ErrInvalidArgument)
	})
}

func copyBeneath(src, root, rel string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := securefs.OpenBeneath(root, rel, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// PodOptions is the pod.options file of a pod checkpoint, as checkpointctl
// (from v1.7, the lib's CheckpointedPodOptions; the v1.5 this module can
// use lacks the type) reads it: the format version and the containers,
// each one's directory by its name. TCPEstablished (Cricket's own field)
// records that established TCP connections were dumped: CRIU can restore
// such images only when asked to restore them too.
type PodOptions struct {
	Version        int               `json:"version"`
	Containers     map[string]string `json:"containers"`
	TCPEstablished bool              `json:"tcpEstablished,omitempty"`
}

// WritePodOptions writes pod.options below root (0600, never through a
// symlink), with the options the checkpoint was taken with.
func WritePodOptions(root string, containers map[string]string, opts Options) error {
	data, err := json.Marshal(PodOptions{Version: 1, Containers: containers, TCPEstablished: opts.TCPEstablished})
	if err != nil {
		return err
	}
	f, err := securefs.OpenBeneath(root, metadata.PodOptionsFile, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// OpenCheckpointDir opens the client-named directory p of a checkpoint
// (RestorePod's checkpoint_path, or one container's directory in it),
// resolved without following symlinks.
func OpenCheckpointDir(p string) (*os.File, error) {
	if err := CheckLocation(p); err != nil {
		return nil, err
	}
	f, err := securefs.OpenNoSymlinks(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint %s: %w", p, errdefs.ErrNotFound)
		}
		if errdefs.Class(err) == nil {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	}
	return f, nil
}

// readJSONBeneath decodes the regular file name of the checkpoint
// directory dir (no symlink on the way) into v.
func readJSONBeneath(dir, name string, v any) error {
	d, err := OpenCheckpointDir(dir)
	if err != nil {
		return err
	}
	_ = d.Close()
	f, err := securefs.OpenBeneath(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("checkpoint %s has no %s: %w", dir, name, errdefs.ErrInvalidArgument)
		}
		return err
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, maxConfigDump)).Decode(v); err != nil {
		return fmt.Errorf("%s of checkpoint %s: %w: %w", name, dir, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ReadDirConfigDump reads config.dump of a container's checkpoint dir.
func ReadDirConfigDump(dir string) (metadata.ContainerConfig, error) {
	var cfg metadata.ContainerConfig
	err := readJSONBeneath(dir, metadata.ConfigDumpFile, &cfg)
	return cfg, err
}

// ReadPodOptions reads pod.options of a pod checkpoint dir.
func ReadPodOptions(dir string) (PodOptions, error) {
	var o PodOptions
	err := readJSONBeneath(dir, metadata.PodOptionsFile, &o)
	return o, err
}

// CheckName checks that a container's CRI name can name its directory in
// a pod checkpoint: one path component.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("container name %q cannot name a checkpoint directory: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}
