package verdict

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResult(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		ok     bool
		result string
		want   string // the object, re-encoded
	}{
		{name: "object with result", msg: `{"result":"warning","sli":{"p95":0.1}}`, ok: true, result: "warning", want: `{"result":"warning","sli":{"p95":0.1}}`},
		{name: "surrounding newline from echo", msg: "{\"result\": \"Pass\"}\n", ok: true, result: "pass", want: `{"result":"Pass"}`},
		{name: "object without result", msg: `{"requests":1200}`, ok: true, want: `{"requests":1200}`},
		{name: "unknown result value is kept but sets nothing", msg: `{"result":"great"}`, ok: true, want: `{"result":"great"}`},
		{name: "non-string result", msg: `{"result":1}`, ok: true, want: `{"result":1}`},
		{name: "big numbers stay exact", msg: `{"n":12345678901234567890}`, ok: true, want: `{"n":12345678901234567890}`},
		{name: "log tail", msg: "Traceback (most recent call last):\n  File \"x\"", ok: false},
		{name: "array", msg: `[1,2]`, ok: false},
		{name: "two objects", msg: `{"a":1}{"b":2}`, ok: false},
		{name: "object then text", msg: `{"a":1} done`, ok: false},
		{name: "null", msg: `null`, ok: false},
		{name: "empty", msg: ``, ok: false},
		{name: "over 4 KB", msg: `{"a":"` + strings.Repeat("x", MaxResultBytes) + `"}`, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, result, ok := ParseResult(tt.msg)
			require.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.result, result)
			if tt.ok {
				b, err := json.Marshal(obj)
				require.NoError(t, err)
				assert.JSONEq(t, tt.want, string(b))
			}
		})
	}
}

func TestWorse(t *testing.T) {
	assert.Equal(t, "fail", worse("pass", "fail"))
	assert.Equal(t, "fail", worse("fail", "warning"))
	assert.Equal(t, "warning", worse("pass", "warning"))
	assert.Equal(t, "pass", worse("pass", ""))
}

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{`{"result":"fail","x":[1,{"y":null}]}`, `{}`, `{"a":1} `, "{\n", `[]`, `{"result":"WARNING"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		obj, result, ok := ParseResult(msg)
		if !ok {
			require.Nil(t, obj)
			require.Empty(t, result)
			return
		}
		require.NotNil(t, obj)
		require.LessOrEqual(t, len(strings.TrimSpace(msg)), MaxResultBytes)
		require.Contains(t, []string{"", "pass", "warning", "fail"}, result)
		_, err := json.Marshal(obj)
		require.NoError(t, err, "a parsed result can always be sent")
	})
}
