package seed

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// JSON seeds are read with encoding/json (yaml.v3 rejects JSON's `\/`
// escape) and turned into the same yaml.Node tree YAML seeds give, so one
// strict decoder serves both and JSON errors carry line:col too. Positions
// come from the decoder's byte offsets: a token starts at the first byte
// after the previous token that is not white space, ',' or ':'.

// lines maps byte offsets to 1-based line:col (col counts runes).
type lines struct {
	data   []byte
	starts []int
}

func newLines(data []byte) *lines {
	l := &lines{data: data, starts: []int{0}}
	for i, b := range data {
		if b == '\n' {
			l.starts = append(l.starts, i+1)
		}
	}
	return l
}

func (l *lines) at(off int) (int, int) {
	if off > len(l.data) {
		off = len(l.data)
	}
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > off }) - 1
	return i + 1, utf8.RuneCount(l.data[l.starts[i]:off]) + 1
}

// jsonError is a JSON syntax problem at a byte offset.
type jsonError struct {
	off int
	msg string
}

func (e *jsonError) Error() string { return e.msg }

func jsonNode(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	l := newLines(data)
	start := func(from int) int {
		for from < len(data) {
			switch data[from] {
			case ' ', '\t', '\r', '\n', ',', ':':
				from++
				continue
			}
			break
		}
		return from
	}
	var stack []*yaml.Node // open mappings and lists
	var root *yaml.Node
	for {
		off := start(int(dec.InputOffset()))
		tok, err := dec.Token()
		if err == io.EOF {
			if root == nil {
				return nil, &jsonError{off, "empty seed"}
			}
			break
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, &jsonError{int(se.Offset), "json: " + se.Error()}
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, &jsonError{len(data), "json: unexpected end of input"}
			}
			return nil, &jsonError{off, "json: " + err.Error()}
		}
		if root != nil && len(stack) == 0 {
			return nil, &jsonError{off, "a seed holds one JSON value; found more after it"}
		}
		line, col := l.at(off)
		var n *yaml.Node
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			case '[':
				n = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				continue
			}
		case string:
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t, Style: yaml.DoubleQuotedStyle}
		case json.Number:
			tag := "!!int"
			if strings.ContainsAny(string(t), ".eE") {
				tag = "!!float"
			}
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}
		case bool:
			v := "false"
			if t {
				v = "true"
			}
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
		case nil:
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		n.Line, n.Column = line, col
		if len(stack) == 0 {
			root = n
		} else {
			top := stack[len(stack)-1]
			top.Content = append(top.Content, n)
		}
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			stack = append(stack, n)
		}
	}
	return root, nil
}
