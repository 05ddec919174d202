package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// User is a resolved process identity.
type User struct {
	UID            uint32
	GID            uint32
	AdditionalGids []uint32
	// Username is the passwd name of UID when the image has one.
	Username string
}

// PasswdEntry is one line of /etc/passwd.
type PasswdEntry struct {
	Name string
	UID  uint32
	GID  uint32
	Home string
}

// GroupEntry is one line of /etc/group.
type GroupEntry struct {
	Name    string
	GID     uint32
	Members []string
}

// UserRequest is what the CRI config and the image ask for.
type UserRequest struct {
	RunAsUser          *int64
	RunAsGroup         *int64
	RunAsUsername      string
	ImageUser          string // the image config's USER: name, uid, name:group, uid:gid
	SupplementalGroups []int64
	// Strict is SupplementalGroupsPolicy Strict: the image's /etc/group
	// memberships are not added.
	Strict bool
}

// UserRequestFromCRI collects the user fields of a container security
// context and the image's USER.
func UserRequestFromCRI(sc *runtimeapi.LinuxContainerSecurityContext, imageUser string) UserRequest {
	r := UserRequest{
		RunAsUsername:      sc.GetRunAsUsername(),
		ImageUser:          imageUser,
		SupplementalGroups: sc.GetSupplementalGroups(),
		Strict:             sc.GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Strict,
	}
	if v := sc.GetRunAsUser(); v != nil {
		u := v.GetValue()
		r.RunAsUser = &u
	}
	if v := sc.GetRunAsGroup(); v != nil {
		g := v.GetValue()
		r.RunAsGroup = &g
	}
	return r
}

// ParsePasswd parses /etc/passwd content, skipping comments and lines that
// are not name:pw:uid:gid:gecos:home:shell.
func ParsePasswd(r io.Reader) ([]PasswdEntry, error) {
	var out []PasswdEntry
	err := eachLine(r, func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		e := PasswdEntry{Name: f[0], UID: uid, GID: gid}
		if len(f) > 5 {
			e.Home = f[5]
		}
		out = append(out, e)
	})
	return out, err
}

// ParseGroup parses /etc/group content (name:pw:gid:member,member).
func ParseGroup(r io.Reader) ([]GroupEntry, error) {
	var out []GroupEntry
	err := eachLine(r, func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			return
		}
		e := GroupEntry{Name: f[0], GID: gid}
		if len(f) > 3 && f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					e.Members = append(e.Members, m)
				}
			}
		}
		out = append(out, e)
	})
	return out, err
}

func eachLine(r io.Reader, fn func([]string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	return sc.Err()
}

// parseID parses a uid or gid; (uint32)-1 is reserved and rejected.
func parseID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == math.MaxUint32 {
		return 0, fmt.Errorf("id %q: %w", s, strconv.ErrRange)
	}
	return uint32(v), nil
}

func checkID(kind string, v int64) (uint32, error) {
	if v < 0 || v >= math.MaxUint32 {
		return 0, invalid("%s %d out of range", kind, v)
	}
	return uint32(v), nil
}

// userDB is the parsed passwd and group files of a rootfs.
type userDB struct {
	passwd []PasswdEntry
	group  []GroupEntry
}

// loadUserDB reads etc/passwd and etc/group from fsys; a missing file is an
// empty database (distroless images have none).
func loadUserDB(fsys fs.FS) (*userDB, error) {
	db := &userDB{}
	if fsys == nil {
		return db, nil
	}
	var err error
	if db.passwd, err = parseFile(fsys, "etc/passwd", ParsePasswd); err != nil {
		return nil, err
	}
	if db.group, err = parseFile(fsys, "etc/group", ParseGroup); err != nil {
		return nil, err
	}
	return db, nil
}

func parseFile[T any](fsys fs.FS, name string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", name, err)
	}
	defer f.Close()
	out, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse image %s: %w", name, err)
	}
	return out, nil
}

func (db *userDB) userByName(name string) (PasswdEntry, bool) {
	for _, e := range db.passwd {
		if e.Name == name {
			return e, true
		}
	}
	return PasswdEntry{}, false
}

func (db *userDB) userByID(uid uint32) (PasswdEntry, bool) {
	for _, e := range db.passwd {
		if e.UID == uid {
			return e, true
		}
	}
	return PasswdEntry{}, false
}

func (db *userDB) groupByName(name string) (GroupEntry, bool) {
	for _, e := range db.group {
		if e.Name == name {
			return e, true
		}
	}
	return GroupEntry{}, false
}

// memberGIDs lists the groups that name the user as a member.
func (db *userDB) memberGIDs(username string) []uint32 {
	var out []uint32
	if username == "" {
		return nil
	}
	for _, g := range db.group {
		for _, m := range g.Members {
			if m == username {
				out = append(out, g.GID)
				break
			}
		}
	}
	return out
}

// ResolveUser resolves the process identity from the CRI request and the
// image's etc/passwd and etc/group in fsys (the container rootfs; nil means
// the image has no user database). Precedence: run_as_user, then
// run_as_username, then the image USER, then root; run_as_group replaces the
// primary gid and needs run_as_user or run_as_username. A uid unknown to the
// image gets gid 0, as in Docker and containerd. AdditionalGids starts with
// the primary gid, then the image's memberships (unless Strict), then the
// CRI supplemental groups, without duplicates.
//
// fsys must resolve symlinks inside the rootfs (RootFS does); os.DirFS
// would follow an image's absolute symlink to the host's files.
func ResolveUser(fsys fs.FS, req UserRequest) (User, error) {
	if req.RunAsGroup != nil && req.RunAsUser == nil && req.RunAsUsername == "" {
		return User{}, invalid("run_as_group is set without run_as_user or run_as_username")
	}
	db, err := loadUserDB(fsys)
	if err != nil {
		return User{}, err
	}
	u, err := primaryUser(db, req)
	if err != nil {
		return User{}, err
	}
	if req.RunAsGroup != nil {
		if u.GID, err = checkID("run_as_group", *req.RunAsGroup); err != nil {
			return User{}, err
		}
	}
	return withGroups(db, u, req)
}

func primaryUser(db *userDB, req UserRequest) (User, error) {
	switch {
	case req.RunAsUser != nil:
		uid, err := checkID("run_as_user", *req.RunAsUser)
		if err != nil {
			return User{}, err
		}
		return userFromUID(db, uid), nil
	case req.RunAsUsername != "":
		e, ok := db.userByName(req.RunAsUsername)
		if !ok {
			return User{}, invalid("user %q not found in the image's /etc/passwd", req.RunAsUsername)
		}
		return User{UID: e.UID, GID: e.GID, Username: e.Name}, nil
	default:
		return parseImageUser(db, req.ImageUser)
	}
}

func userFromUID(db *userDB, uid uint32) User {
	if e, ok := db.userByID(uid); ok {
		return User{UID: uid, GID: e.GID, Username: e.Name}
	}
	return User{UID: uid}
}

// parseImageUser resolves an image USER: "", "name", "uid", "name:group",
// "uid:gid" (either side may be a name or a number).
func parseImageUser(db *userDB, spec string) (User, error) {
	if spec == "" {
		return userFromUID(db, 0), nil
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var u User
	if uid, err := parseID(userPart); err == nil {
		u = userFromUID(db, uid)
	} else {
		e, ok := db.userByName(userPart)
		if !ok {
			return User{}, invalid("image user %q not found in the image's /etc/passwd", userPart)
		}
		u = User{UID: e.UID, GID: e.GID, Username: e.Name}
	}
	if !hasGroup {
		return u, nil
	}
	if gid, err := parseID(groupPart); err == nil {
		u.GID = gid
		return u, nil
	}
	g, ok := db.groupByName(groupPart)
	if !ok {
		return User{}, invalid("image group %q not found in the image's /etc/group", groupPart)
	}
	u.GID = g.GID
	return u, nil
}

func withGroups(db *userDB, u User, req UserRequest) (User, error) {
	gids := []uint32{u.GID}
	if !req.Strict {
		gids = append(gids, db.memberGIDs(u.Username)...)
	}
	for _, g := range req.SupplementalGroups {
		gid, err := checkID("supplemental group", g)
		if err != nil {
			return User{}, err
		}
		gids = append(gids, gid)
	}
	u.AdditionalGids = dedupe(gids)
	return u, nil
}

func dedupe(in []uint32) []uint32 {
	seen := make(map[uint32]bool, len(in))
	out := in[:0]
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
