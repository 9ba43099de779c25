// moby-oracle reads Docker API request bodies exactly as dockerd 20.10 does — the same
// Go (1.19), the same encoding/json, moby's own request types and decoding functions — and
// prints what it decoded. The engine's Go-compatible decoder is tested against it.
//
//	moby-oracle schema   the JSON field tables of every request type, for the engine
//	moby-oracle decode   frames "<kind> <length>\n<body>" on stdin; for each, one line:
//	                     "ok <json.Marshal of the decoded values>" or "err <message>"
//
// Built in GOPATH mode against Debian's golang-github-docker-docker-dev (moby 20.10.24).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/runconfig"
)

// CreateResult is what POST /containers/create hands to the daemon: the three values
// runconfig's DecodeConfig returns (before its validations).
type CreateResult struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// StartResult is what POST /containers/{id}/start reads from a body (API < 1.24).
type StartResult struct {
	HostConfig *container.HostConfig
}

// Each kind names the type a dockerd handler decodes its body into.
var roots = []struct {
	kind string
	typ  reflect.Type
}{
	{"container-create", reflect.TypeOf(CreateResult{})},
	{"container-create-wrapper", reflect.TypeOf(runconfig.ContainerConfigWrapper{})},
	{"container-start", reflect.TypeOf(StartResult{})},
	{"container-update", reflect.TypeOf(container.UpdateConfig{})},
	{"exec-create", reflect.TypeOf(types.ExecConfig{})},
	{"service-spec", reflect.TypeOf(swarm.ServiceSpec{})},
	{"volume-create", reflect.TypeOf(volume.VolumeCreateBody{})},
	{"plugin-privileges", reflect.TypeOf(types.PluginPrivileges{})},
	{"network-create", reflect.TypeOf(types.NetworkCreateRequest{})},
}

func decode(kind string, body []byte) (interface{}, error) {
	switch kind {
	case "container-create":
		var w runconfig.ContainerConfigWrapper
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&w); err != nil {
			return nil, err
		}
		// DecodeHostConfig decodes the same wrapper again and applies runconfig's
		// getHostConfig (the deprecated top-level HostConfig fields, the default network mode).
		hc, err := runconfig.ContainerDecoder{}.DecodeHostConfig(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		return CreateResult{w.Config, hc, w.NetworkingConfig}, nil
	case "container-start":
		hc, err := runconfig.ContainerDecoder{}.DecodeHostConfig(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		return StartResult{hc}, nil
	case "container-update":
		var v container.UpdateConfig
		err := decodeInto(body, &v)
		return v, err
	case "exec-create":
		v := &types.ExecConfig{}
		err := decodeInto(body, v)
		return v, err
	case "service-spec":
		var v swarm.ServiceSpec
		err := decodeInto(body, &v)
		return v, err
	case "volume-create":
		var v volume.VolumeCreateBody
		err := decodeInto(body, &v)
		return v, err
	case "network-create":
		var v types.NetworkCreateRequest
		err := decodeInto(body, &v)
		return v, err
	case "plugin-privileges":
		var v types.PluginPrivileges
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if dec.More() {
			return nil, fmt.Errorf("invalid privileges")
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// decodeInto is `json.NewDecoder(r.Body).Decode(&v)`, what most handlers do.
func decodeInto(body []byte, target interface{}) error {
	return json.NewDecoder(bytes.NewReader(body)).Decode(target)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: moby-oracle schema|decode")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "schema":
		printSchema()
	case "decode":
		serve()
	default:
		fmt.Fprintln(os.Stderr, "usage: moby-oracle schema|decode")
		os.Exit(2)
	}
}

func serve() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	for {
		header, err := in.ReadString('\n')
		if err == io.EOF {
			return
		}
		if err != nil {
			panic(err)
		}
		var kind string
		var n int
		if _, err := fmt.Sscanf(header, "%s %d", &kind, &n); err != nil {
			panic(fmt.Sprintf("bad frame header %q", header))
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(in, body); err != nil {
			panic(err)
		}
		v, err := decode(kind, body)
		if err == nil {
			var encoded []byte
			encoded, err = json.Marshal(v)
			if err == nil {
				out.WriteString("ok ")
				out.Write(encoded)
				out.WriteByte('\n')
			}
		}
		if err != nil {
			msg, _ := json.Marshal(err.Error())
			out.WriteString("err ")
			out.Write(msg)
			out.WriteByte('\n')
		}
		// One answer per frame, flushed when the input has no more frames waiting.
		if in.Buffered() == 0 {
			out.Flush()
		}
	}
}

// The schema: every type reachable from the roots, with encoding/json's field table for
// structs. Types are numbered in the order they are first reached.
type schemaType struct {
	Name       string        `json:"name,omitempty"`
	Kind       string        `json:"kind"`
	Bits       int           `json:"bits,omitempty"`
	Elem       *int          `json:"elem,omitempty"`
	Key        *int          `json:"key,omitempty"`
	Len        int           `json:"len,omitempty"`
	Raw        []int         `json:"raw,omitempty"`
	GoNames    []string      `json:"goNames,omitempty"`
	Fields     []schemaField `json:"fields,omitempty"`
	Unmarshal  string        `json:"unmarshal,omitempty"`
}

type schemaField struct {
	Name      string `json:"name"`
	Index     []int  `json:"index"`
	OmitEmpty bool   `json:"omitempty,omitempty"`
	Fold      string `json:"fold"`
}

type schemaDoc struct {
	Go    string         `json:"go"`
	Roots map[string]int `json:"roots"`
	Types []schemaType   `json:"types"`
}

var (
	unmarshalerType     = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	marshalerType       = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*interface{ UnmarshalText([]byte) error })(nil)).Elem()
	textMarshalerType   = reflect.TypeOf((*interface{ MarshalText() ([]byte, error) })(nil)).Elem()
)

// Custom unmarshalers the engine implements, by type.
var knownUnmarshalers = map[string]string{
	"github.com/docker/docker/api/types/strslice.StrSlice": "strslice",
}

func typeName(t reflect.Type) string {
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

func printSchema() {
	doc := schemaDoc{Go: runtime.Version(), Roots: map[string]int{}}
	ids := map[reflect.Type]int{}
	var visit func(t reflect.Type) int
	visit = func(t reflect.Type) int {
		if id, ok := ids[t]; ok {
			return id
		}
		id := len(doc.Types)
		ids[t] = id
		doc.Types = append(doc.Types, schemaType{})
		st := schemaType{Name: typeName(t)}
		if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
			t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
			panic("type with a custom marshaler: " + typeName(t))
		}
		if reflect.PointerTo(t).Implements(textUnmarshalerType) {
			panic("type with a text unmarshaler: " + typeName(t))
		}
		if t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(unmarshalerType) {
			u, ok := knownUnmarshalers[typeName(t)]
			if !ok {
				panic("type with an unknown custom unmarshaler: " + typeName(t))
			}
			st.Unmarshal = u
		}
		switch t.Kind() {
		case reflect.Bool:
			st.Kind = "bool"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			st.Kind, st.Bits = "int", t.Bits()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			st.Kind, st.Bits = "uint", t.Bits()
		case reflect.Float32, reflect.Float64:
			st.Kind, st.Bits = "float", t.Bits()
		case reflect.String:
			st.Kind = "string"
		case reflect.Interface:
			if t.NumMethod() != 0 {
				panic("non-empty interface: " + typeName(t))
			}
			st.Kind = "interface"
		case reflect.Pointer:
			st.Kind = "ptr"
			e := visit(t.Elem())
			st.Elem = &e
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				panic("byte slice: " + typeName(t))
			}
			st.Kind = "slice"
			e := visit(t.Elem())
			st.Elem = &e
		case reflect.Array:
			st.Kind, st.Len = "array", t.Len()
			e := visit(t.Elem())
			st.Elem = &e
		case reflect.Map:
			switch t.Key().Kind() {
			case reflect.String:
			default:
				panic("map key that is not a string: " + typeName(t))
			}
			st.Kind = "map"
			k, e := visit(t.Key()), visit(t.Elem())
			st.Key, st.Elem = &k, &e
		case reflect.Struct:
			st.Kind = "struct"
			st.Raw = make([]int, t.NumField())
			for i := 0; i < t.NumField(); i++ {
				st.GoNames = append(st.GoNames, t.Field(i).Name)
			}
			used := map[int]bool{}
			fields := typeFields(t)
			for _, f := range fields {
				if f.quoted {
					panic("field with the string option: " + typeName(t) + "." + f.name)
				}
				fold := foldKind([]byte(f.name))
				if fold == "unicode" {
					panic("field name that is not ASCII: " + f.name)
				}
				st.Fields = append(st.Fields, schemaField{f.name, f.index, f.omitEmpty, fold})
				used[f.index[0]] = true
			}
			for i := 0; i < t.NumField(); i++ {
				if used[i] {
					st.Raw[i] = visit(t.Field(i).Type)
				} else {
					st.Raw[i] = -1 // never read or written by encoding/json
				}
			}
		default:
			panic("unsupported kind " + t.Kind().String() + ": " + typeName(t))
		}
		doc.Types[id] = st
		return id
	}
	for _, r := range roots {
		doc.Roots[r.kind] = visit(r.typ)
	}
	encoded, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		panic(err)
	}
	// One type per line keeps the file reviewable and its diffs small.
	compact := compactTypes(encoded)
	os.Stdout.Write(compact)
	os.Stdout.WriteString("\n")
}

func compactTypes(indented []byte) []byte {
	var doc struct {
		Go    string            `json:"go"`
		Roots map[string]int    `json:"roots"`
		Types []json.RawMessage `json:"types"`
	}
	if err := json.Unmarshal(indented, &doc); err != nil {
		panic(err)
	}
	var b strings.Builder
	b.WriteString("{\n\"go\": " + strconv.Quote(doc.Go) + ",\n\"roots\": {")
	keys := make([]string, 0, len(doc.Roots))
	for k := range doc.Roots {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n %q: %d", k, doc.Roots[k])
	}
	b.WriteString("\n},\n\"types\": [")
	for i, t := range doc.Types {
		if i > 0 {
			b.WriteString(",")
		}
		var c bytes.Buffer
		json.Compact(&c, t)
		fmt.Fprintf(&b, "\n%s", c.String())
	}
	b.WriteString("\n]\n}")
	return []byte(b.String())
}
