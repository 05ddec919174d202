package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	// Path is the dotted TOML key, e.g. "runtime.handlers.runc.path".
	Path string
	Msg  string
}

func (e FieldError) String() string { return e.Path + ": " + e.Msg }

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

// Load reads the configuration at path over the defaults. When path is
// missing and optional is true, the defaults are used. override, if not nil,
// is applied after the file (command-line flags) and before validation, so
// that every error — unknown keys, wrong types, bad values — is reported at
// once.
func Load(path string, optional bool, override func(*Config)) (*Config, error) {
	cfg := Default()
	var errs Errors
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		errs = append(errs, decode(data, cfg)...)
	case errors.Is(err, os.ErrNotExist) && optional:
	default:
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if override != nil {
		override(cfg)
	}
	errs = append(errs, cfg.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// Parse decodes data over the defaults and validates the result.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	errs := decode(data, cfg)
	errs = append(errs, cfg.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// decode parses TOML into a generic tree and then walks it against cfg's
// type by hand, so that one bad value does not hide the others.
func decode(data []byte, cfg *Config) Errors {
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return Errors{{Path: fmt.Sprintf("line %d", perr.Position.Line), Msg: perr.Message}}
		}
		return Errors{{Path: "(file)", Msg: err.Error()}}
	}
	var errs Errors
	decodeStruct(reflect.ValueOf(cfg).Elem(), tree, "", &errs)
	return errs
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func decodeStruct(v reflect.Value, tree map[string]any, prefix string, errs *Errors) {
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
			*errs = append(*errs, FieldError{path, "unknown key"})
			continue
		}
		decodeValue(v.Field(i), tree[k], path, errs)
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func decodeValue(f reflect.Value, raw any, path string, errs *Errors) {
	bad := func(want string) {
		*errs = append(*errs, FieldError{path, fmt.Sprintf("want %s, got %s", want, tomlType(raw))})
	}
	if reflect.PointerTo(f.Type()).Implements(textUnmarshaler) {
		s, ok := raw.(string)
		if !ok {
			bad("a string")
			return
		}
		if err := f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			*errs = append(*errs, FieldError{path, fmt.Sprintf("invalid value %q: %v", s, err)})
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
		decodeStrings(f, raw, path, errs)
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			bad("a table")
			return
		}
		decodeStruct(f, m, path, errs)
	case reflect.Map:
		decodeMap(f, raw, path, errs)
	default:
		panic(fmt.Sprintf("config: unsupported field kind %s at %s", f.Kind(), path))
	}
}

func decodeStrings(f reflect.Value, raw any, path string, errs *Errors) {
	items, ok := raw.([]any)
	if !ok {
		*errs = append(*errs, FieldError{path, fmt.Sprintf("want an array of strings, got %s", tomlType(raw))})
		return
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			*errs = append(*errs, FieldError{fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("want a string, got %s", tomlType(it))})
			continue
		}
		out = append(out, s)
	}
	f.Set(reflect.ValueOf(out))
}

func decodeMap(f reflect.Value, raw any, path string, errs *Errors) {
	m, ok := raw.(map[string]any)
	if !ok {
		*errs = append(*errs, FieldError{path, fmt.Sprintf("want a table, got %s", tomlType(raw))})
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
		decodeValue(elem, m[k], joinPath(path, k), errs)
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
