package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// WriteTOML writes cfg as TOML with every key present and the doc comment of
// each key above it, the form `cricketd config default` prints.
func (cfg *Config) WriteTOML(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString("# cricketd configuration. Every key is shown with its built-in default.\n")
	buf.WriteString("# Drop-in files (cricket.d/*.toml beside this file, or --config-dir) are merged over it in name order.\n")
	buf.WriteString("# Command-line flags (--root, --state, --listen, --registry-config-path) override both.\n")
	buf.WriteString("# Keys marked \"Reloadable on SIGHUP\" take effect on `kill -HUP`; the others need a restart.\n\n")
	if err := (&encoder{buf: &buf}).writeTable(reflect.ValueOf(cfg).Elem(), ""); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteMerged writes cfg as TOML, the form `cricketd config show` prints:
// every key with, above it, where its value came from (origins: a file, a
// flag, or the built-in default); files are the files read, in order.
func (cfg *Config) WriteMerged(w io.Writer, files []string, origins Origins) error {
	var buf bytes.Buffer
	buf.WriteString("# cricketd configuration as merged from, in order:\n")
	if len(files) == 0 {
		buf.WriteString("#   (no file: built-in defaults)\n")
	}
	for _, f := range files {
		fmt.Fprintf(&buf, "#   %s\n", f)
	}
	buf.WriteString("\n")
	if err := (&encoder{buf: &buf, origins: origins}).writeTable(reflect.ValueOf(cfg).Elem(), ""); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// encoder writes a configuration: with doc comments (origins nil), or
// with the origin of each key.
type encoder struct {
	buf     *bytes.Buffer
	origins Origins
}

func (e *encoder) comment(sf reflect.StructField) {
	if e.origins == nil {
		c := sf.Tag.Get("comment")
		if sf.Tag.Get("reload") == "true" {
			c += " Reloadable on SIGHUP."
		}
		writeComment(e.buf, c)
	}
}

// header starts the table at path; merged output, without comments,
// sets tables apart with a blank line.
func (e *encoder) header(path string) {
	if e.origins != nil {
		e.buf.WriteString("\n")
	}
	fmt.Fprintf(e.buf, "[%s]\n", path)
}

func (e *encoder) writeTable(v reflect.Value, prefix string) error {
	t := v.Type()
	var nested []int
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Struct && t.Field(i).Type != reflect.TypeFor[Duration]() || f.Kind() == reflect.Map {
			nested = append(nested, i)
			continue
		}
		if err := e.writeKey(t.Field(i), f, prefix); err != nil {
			return err
		}
	}
	for _, i := range nested {
		sf := t.Field(i)
		path := joinPath(prefix, sf.Tag.Get("toml"))
		e.comment(sf)
		if v.Field(i).Kind() == reflect.Map {
			if err := e.writeMap(v.Field(i), path); err != nil {
				return err
			}
			continue
		}
		e.header(path)
		if err := e.writeTable(v.Field(i), path); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) writeMap(m reflect.Value, path string) error {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := path + "." + k
		e.header(sub)
		if err := e.writeTable(m.MapIndex(reflect.ValueOf(k)), sub); err != nil {
			return err
		}
	}
	return nil
}

func writeComment(buf *bytes.Buffer, comment string) {
	for _, line := range strings.Split(comment, "\n") {
		if line != "" {
			fmt.Fprintf(buf, "# %s\n", line)
		}
	}
}

func (e *encoder) writeKey(sf reflect.StructField, f reflect.Value, prefix string) error {
	buf := e.buf
	e.comment(sf)
	var kv bytes.Buffer
	if err := toml.NewEncoder(&kv).Encode(map[string]any{sf.Tag.Get("toml"): f.Interface()}); err != nil {
		return fmt.Errorf("encode %s: %w", sf.Tag.Get("toml"), err)
	}
	if e.origins == nil {
		buf.Write(kv.Bytes())
		buf.WriteString("\n")
		return nil
	}
	// One line per key, its origin in a trailing comment.
	from, ok := e.origins[joinPath(prefix, sf.Tag.Get("toml"))]
	if !ok {
		from = "default"
	}
	fmt.Fprintf(buf, "%s  # %s\n", bytes.TrimRight(kv.Bytes(), "\n"), from)
	return nil
}
