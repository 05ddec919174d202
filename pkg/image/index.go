package image

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
)

const (
	imagesBucket  = "images"
	imageVersion  = 1
	minPrefixSize = 3
)

// Image is one pulled image. Its ID is the digest of its config.
type Image struct {
	ID string `json:"id"`
	// RepoTags are normalised name:tag references pointing at the image.
	RepoTags []string `json:"repoTags,omitempty"`
	// RepoDigests are name@digest references, the digest being what the
	// registry resolved (an index digest for multi-arch images).
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Blobs are every content blob the image needs: indexes, manifest,
	// config and layers.
	Blobs []string `json:"blobs"`
	// Layers are the layer blob digests, bottom first.
	Layers []string `json:"layers"`
	// ChainIDs are the snapshot chain IDs, bottom first; the last one is
	// the parent of a container's rootfs.
	ChainIDs []string `json:"chainIDs"`
	// Size is the bytes of config and layer blobs.
	Size int64 `json:"size"`
	// Config is the parsed image config.
	Config Config `json:"config"`
	// Platforms are the name spaces the image's names live in: a
	// runtime handler configured with its own platform pulls into that
	// platform's (os/arch[/variant]); "" is the daemon's own. No entry
	// (a record of an older version) means [""].
	Platforms []string `json:"platforms,omitempty"`
	// Artifact marks an OCI artifact (KEP-4639): its ID is its manifest
	// digest, it has no config and no filesystem layers, and it can only be
	// mounted as an image volume, a directory of its layer files
	// (Service.ArtifactDir).
	Artifact bool `json:"artifact,omitempty"`
	// Checkpoint, for an image made from a container checkpoint archive
	// (see CheckpointAnnotations), is the checkpointed container's name:
	// its layer holds the archive's files, and a container created from
	// it is restored from them.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Pinned images are never garbage collected by the kubelet.
	Pinned bool `json:"-"`
}

// namespaces are im's Platforms, [""] when it has none.
func (im *Image) namespaces() []string {
	if len(im.Platforms) == 0 {
		return []string{""}
	}
	return im.Platforms
}

// nameKey is where name lives in the index for the name space ns.
func nameKey(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "|" + name
}

// TopChainID returns the chain ID a container rootfs stands on, empty for an
// image without layers.
func (im Image) TopChainID() string {
	if len(im.ChainIDs) == 0 {
		return ""
	}
	return im.ChainIDs[len(im.ChainIDs)-1]
}

// UID returns the numeric user of the image config's User ("1000",
// "1000:1000"), or false when the user is a name or unset.
func (im Image) UID() (int64, bool) {
	user, _, _ := strings.Cut(im.Config.Config.User, ":")
	if user == "" {
		return 0, false
	}
	var uid int64
	if _, err := fmt.Sscanf(user, "%d", &uid); err != nil || fmt.Sprint(uid) != user {
		return 0, false
	}
	return uid, true
}

// Username returns the user name of the config's User when it is not numeric.
func (im Image) Username() string {
	if _, ok := im.UID(); ok {
		return ""
	}
	user, _, _ := strings.Cut(im.Config.Config.User, ":")
	return user
}

// index is the image index: records in the persistent store plus in-memory
// lookups by name and digest reference.
type index struct {
	db *store.Store

	mu     sync.RWMutex
	byID   map[string]*Image
	byName map[string]string // repo:tag or repo@digest -> ID
}

func openIndex(db *store.Store, onErr func(id string, err error)) (*index, error) {
	x := &index{db: db, byID: map[string]*Image{}, byName: map[string]string{}}
	err := db.Walk(imagesBucket, func(_ string, _ int, decode func(any) error) error {
		var im Image
		if err := decode(&im); err != nil {
			return err
		}
		x.addLocked(&im)
		return nil
	}, onErr)
	return x, err
}

func (x *index) addLocked(im *Image) {
	x.byID[im.ID] = im
	for _, ns := range im.namespaces() {
		for _, n := range im.names() {
			x.byName[nameKey(ns, n)] = im.ID
		}
	}
}

// names are im's tags and digest references.
func (im *Image) names() []string {
	return append(append([]string(nil), im.RepoTags...), im.RepoDigests...)
}

func copyImage(im *Image) Image {
	c := *im
	c.RepoTags = append([]string(nil), im.RepoTags...)
	c.RepoDigests = append([]string(nil), im.RepoDigests...)
	c.Platforms = append([]string(nil), im.Platforms...)
	return c
}

// put records im, merging the names of an existing record with the same ID,
// and moves its names away from images that had them before.
func (x *index) put(im Image) (Image, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pulled := im.namespaces()
	if old, ok := x.byID[im.ID]; ok {
		im.RepoTags = mergeNames(old.RepoTags, im.RepoTags)
		im.RepoDigests = mergeNames(old.RepoDigests, im.RepoDigests)
		im.Platforms = mergeNames(old.namespaces(), pulled)
		if len(im.Platforms) == 1 && im.Platforms[0] == "" {
			im.Platforms = nil
		}
	}
	for _, ns := range pulled {
		for _, n := range im.names() {
			if err := x.untagLocked(ns, n, im.ID); err != nil {
				return Image{}, err
			}
		}
	}
	if err := x.db.Put(imagesBucket, idHex(im.ID), imageVersion, im); err != nil {
		return Image{}, err
	}
	x.addLocked(&im)
	return copyImage(&im), nil
}

// untagLocked removes name, in the name space ns, from the image that has
// it unless that is keep. The image stays, untagged, as Docker and
// containerd keep it; it keeps the name while another of its name spaces
// still gives it that name.
func (x *index) untagLocked(ns, name, keep string) error {
	id, ok := x.byName[nameKey(ns, name)]
	if !ok || id == keep {
		return nil
	}
	old := copyImage(x.byID[id])
	for _, other := range old.namespaces() {
		if other != ns && x.byName[nameKey(other, name)] == id {
			delete(x.byName, nameKey(ns, name))
			return nil
		}
	}
	old.RepoTags = removeName(old.RepoTags, name)
	old.RepoDigests = removeName(old.RepoDigests, name)
	if err := x.db.Put(imagesBucket, idHex(id), imageVersion, old); err != nil {
		return err
	}
	x.byID[id] = &old
	delete(x.byName, nameKey(ns, name))
	return nil
}

func mergeNames(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append(append([]string(nil), a...), b...) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func removeName(names []string, name string) []string {
	out := names[:0:0]
	for _, n := range names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

func idHex(id string) string { return strings.TrimPrefix(id, "sha256:") }

// list returns all images sorted by ID.
func (x *index) list() []Image {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]Image, 0, len(x.byID))
	for _, im := range x.byID {
		out = append(out, copyImage(im))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// lookup resolves ref as an image ID ("sha256:<hex>" or bare hex), a name
// (normalised: busybox means docker.io/library/busybox:latest) or a digest
// reference in the name space ns, or a unique ID prefix of at least
// minPrefixSize hex digits.
func (x *index) lookup(ref, ns string) (Image, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if im, ok := x.byID[ref]; ok {
		return copyImage(im), nil
	}
	if im, ok := x.byID["sha256:"+ref]; ok {
		return copyImage(im), nil
	}
	if r, err := ParseReference(ref); err == nil {
		if id, ok := x.byName[nameKey(ns, r.String())]; ok {
			return copyImage(x.byID[id]), nil
		}
		if r.Digest != "" && r.Tag != "" {
			if id, ok := x.byName[nameKey(ns, r.Repo()+"@"+r.Digest)]; ok {
				return copyImage(x.byID[id]), nil
			}
		}
	}
	if im := x.prefixLocked(strings.TrimPrefix(ref, "sha256:")); im != nil {
		return copyImage(im), nil
	}
	return Image{}, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (x *index) prefixLocked(p string) *Image {
	if len(p) < minPrefixSize || strings.Trim(p, "0123456789abcdef") != "" {
		return nil
	}
	var found *Image
	for id, im := range x.byID {
		if strings.HasPrefix(idHex(id), p) {
			if found != nil {
				return nil // ambiguous
			}
			found = im
		}
	}
	return found
}

// remove deletes the record of id and returns what remains.
func (x *index) remove(id string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	im, ok := x.byID[id]
	if !ok {
		return nil
	}
	if err := x.db.Delete(imagesBucket, idHex(id)); err != nil {
		return err
	}
	for _, ns := range im.namespaces() {
		for _, n := range im.names() {
			if x.byName[nameKey(ns, n)] == id {
				delete(x.byName, nameKey(ns, n))
			}
		}
	}
	delete(x.byID, id)
	return nil
}

// references returns the blobs and chain IDs that recorded images need.
func (x *index) references() (blobs, chains map[string]bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	blobs, chains = map[string]bool{}, map[string]bool{}
	for _, im := range x.byID {
		for _, b := range im.Blobs {
			blobs[b] = true
		}
		for _, c := range im.ChainIDs {
			chains[c] = true
		}
	}
	return blobs, chains
}
