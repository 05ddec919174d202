package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	// File is the file the key was read from; empty for a built-in
	// default or a command-line flag.
	File string
	// Path is the dotted TOML key, e.g. "runtime.handlers.runc.path".
	Path string
	Msg  string
}

func (e FieldError) String() string {
	if e.File != "" {
		return e.File + ": " + e.Path + ": " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors is every problem found in a configuration. It wraps
// errdefs.ErrInvalidArgument.
type Errors []FieldError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = "  " + fe.String()
	}
	return fmt.Sprintf("invalid configuration (%d problems):\n%s", len(e), strings.Join(lines, "\n"))
}

// Unwrap lets errors.Is(err, errdefs.ErrInvalidArgument) hold.
func (e Errors) Unwrap() error { return errdefs.ErrInvalidArgument }

// Origins maps each dotted key set by something other than the built-in
// defaults to where its value came from: a file's path, or "flag --NAME".
// An array is recorded once, as a whole; an entry of a table of named
// entries (runtime.handlers.NAME) is recorded too, as the last file that
// set any of its keys.
type Origins map[string]string

// Of returns where the key at path came from, "" for a built-in default.
// An array element ("a.b[2]") is attributed to its array, and a key no
// file set to the nearest enclosing entry that a file set (a missing
// runtime.handlers.kata.path to the file that added handler kata).
func (o Origins) Of(path string) string {
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	for {
		if f, ok := o[path]; ok {
			return f
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return ""
		}
		path = path[:i]
	}
}

// Files says where a configuration is read from.
type Files struct {
	// Main is the main file; a missing one is the defaults when
	// MainOptional is set, an error otherwise.
	Main         string
	MainOptional bool
	// DropInDir holds drop-in files (*.toml) merged over the main file in
	// name order, as CRI-O's crio.conf.d and containerd's imports do: a
	// table merges key by key, a later file's value replaces an earlier
	// one (arrays included). A missing directory has none; empty means
	// DropInDirFor(Main).
	DropInDir string
}

// DropInDirFor is the default drop-in directory of a main file:
// cricket.d beside it (/etc/cricket/cricket.d for /etc/cricket/cricket.toml).
func DropInDirFor(main string) string {
	return filepath.Join(filepath.Dir(main), "cricket.d")
}

// Paths lists the files read, in the order they apply: the main file (if
// it exists or is required), then the drop-ins.
func (f Files) Paths() ([]string, error) {
	var out []string
	if _, err := os.Stat(f.Main); err == nil || !f.MainOptional || !errors.Is(err, os.ErrNotExist) {
		out = append(out, f.Main)
	}
	dir := f.DropInDir
	if dir == "" {
		dir = DropInDirFor(f.Main)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read drop-in dir %s: %w", dir, err)
	}
	for _, e := range entries {
		// ReadDir sorts by name. Editors' backups and disabled files
		// (x.toml.bak, x.toml~) are not TOML by name and are skipped.
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".toml") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// Load reads the configuration of files over the defaults. override, if
// not nil, is applied after the files (command-line flags) and before
// validation, and records what it sets in the origins it is given, so
// that every error — unknown keys, wrong types, bad values, each with its
// file and dotted key — is reported at once. It returns where each key
// that is not a default came from.
func Load(files Files, override func(*Config, Origins)) (*Config, Origins, error) {
	paths, err := files.Paths()
	if err != nil {
		return nil, nil, err
	}
	cfg := Default()
	d := &decoder{origins: Origins{}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("read config %s: %w", p, err)
		}
		d.file = p
		d.decode(data, cfg)
	}
	if override != nil {
		override(cfg, d.origins)
	}
	errs := d.errs
	for _, fe := range cfg.Validate() {
		if o := d.origins.Of(fe.Path); !strings.HasPrefix(o, "flag ") {
			fe.File = o
		}
		errs = append(errs, fe)
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return cfg, d.origins, nil
}

// Parse decodes data over the defaults and validates the result.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	d := &decoder{origins: Origins{}}
	d.decode(data, cfg)
	errs := append(d.errs, cfg.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// decoder walks a generic TOML tree against the Config type by hand, so
// that one bad value does not hide the others, and records which file set
// each key.
type decoder struct {
	file    string
	errs    Errors
	origins Origins
}

func (d *decoder) add(path, msg string) {
	d.errs = append(d.errs, FieldError{File: d.file, Path: path, Msg: msg})
}

// decode parses one file's TOML over cfg.
func (d *decoder) decode(data []byte, cfg *Config) {
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			d.add(fmt.Sprintf("line %d", perr.Position.Line), perr.Message)
			return
		}
		d.add("(file)", err.Error())
		return
	}
	d.decodeStruct(reflect.ValueOf(cfg).Elem(), tree, "")
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (d *decoder) decodeStruct(v reflect.Value, tree map[string]any, prefix string) {
	fields := map[string]int{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		fields[t.Field(i).Tag.Get("toml")] = i
	}
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := joinPath(prefix, k)
		i, ok := fields[k]
		if !ok {
			d.add(path, "unknown key")
			continue
		}
		d.decodeValue(v.Field(i), tree[k], path)
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) decodeValue(f reflect.Value, raw any, path string) {
	bad := func(want string) {
		d.add(path, fmt.Sprintf("want %s, got %s", want, tomlType(raw)))
	}
	if k := f.Kind(); k != reflect.Struct && k != reflect.Map || f.Type() == reflect.TypeFor[Duration]() {
		d.origins[path] = d.file
	}
	if reflect.PointerTo(f.Type()).Implements(textUnmarshaler) {
		s, ok := raw.(string)
		if !ok {
			bad("a string")
			return
		}
		if err := f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.add(path, fmt.Sprintf("invalid value %q: %v", s, err))
		}
		return
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			bad("a string")
			return
		}
		f.SetString(s)
	case reflect.Int:
		n, ok := raw.(int64)
		if !ok {
			bad("an integer")
			return
		}
		f.SetInt(n)
	case reflect.Float64:
		switch n := raw.(type) {
		case float64:
			f.SetFloat(n)
		case int64:
			f.SetFloat(float64(n))
		default:
			bad("a number")
		}
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			bad("a boolean")
			return
		}
		f.SetBool(b)
	case reflect.Slice:
		d.decodeStrings(f, raw, path)
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			bad("a table")
			return
		}
		d.decodeStruct(f, m, path)
	case reflect.Map:
		d.decodeMap(f, raw, path)
	default:
		panic(fmt.Sprintf("config: unsupported field kind %s at %s", f.Kind(), path))
	}
}

func (d *decoder) decodeStrings(f reflect.Value, raw any, path string) {
	items, ok := raw.([]any)
	if !ok {
		d.add(path, fmt.Sprintf("want an array of strings, got %s", tomlType(raw)))
		return
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			d.add(fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("want a string, got %s", tomlType(it)))
			continue
		}
		out = append(out, s)
	}
	f.Set(reflect.ValueOf(out))
}

func (d *decoder) decodeMap(f reflect.Value, raw any, path string) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.add(path, fmt.Sprintf("want a table, got %s", tomlType(raw)))
		return
	}
	if f.IsNil() {
		f.Set(reflect.MakeMap(f.Type()))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		elem := reflect.New(f.Type().Elem()).Elem()
		if old := f.MapIndex(reflect.ValueOf(k)); old.IsValid() {
			elem.Set(old)
		}
		d.origins[joinPath(path, k)] = d.file
		d.decodeValue(elem, m[k], joinPath(path, k))
		f.SetMapIndex(reflect.ValueOf(k), elem)
	}
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}
