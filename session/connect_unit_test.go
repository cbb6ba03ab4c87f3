package session

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rediskit/rediskit/internal/redistest"
)

func TestConnectRedisOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer c.Close()
	for name, o := range map[string]Options{
		"no secrets":   {Format: FormatConnectRedis},
		"empty secret": {Format: FormatConnectRedis, Secrets: []string{"a", ""}},
		"lifetime":     {Format: FormatConnectRedis, Secrets: []string{"a"}, Lifetime: time.Hour},
		"codec":        {Format: FormatConnectRedis, Secrets: []string{"a"}, Codec: gobCodec{}},
		"format":       {Format: 7},
	} {
		if _, err := New(c, o); err == nil {
			t.Errorf("%s: New accepted %v", name, o)
		}
	}
	m, err := New(c, Options{Format: FormatConnectRedis, Secrets: []string{"hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.opts.Prefix != "sess:" || m.opts.Cookie.Name != "connect.sid" || m.opts.StoreTTL != 86400*time.Second {
		t.Fatalf("defaults: prefix %q cookie %q ttl %v", m.opts.Prefix, m.opts.Cookie.Name, m.opts.StoreTTL)
	}
	o := Options{Secrets: []string{"hunter2"}}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprint(&o)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

type gobCodec struct{}

func (gobCodec) Marshal(any) ([]byte, error) { return nil, nil }
func (gobCodec) Unmarshal([]byte, any) error { return nil }

func TestSignedCookie(t *testing.T) {
	// Known answer from cookie-signature 1.0.7 (express-session's copy):
	// sign("hello", "tobiiscool").
	if got := signSID("hello", "tobiiscool"); got != "s:hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI" {
		t.Fatalf("sign = %q", got)
	}
	if sid, ok := unsignSID(signSID("a.b", "k"), []string{"x", "k"}); !ok || sid != "a.b" {
		t.Fatalf("unsign = %q %v", sid, ok)
	}
	if got := encodeURIComponent("s:a+b/c=d.e-f_g~h*'()!"); got != "s%3Aa%2Bb%2Fc%3Dd.e-f_g~h*'()!" {
		t.Fatalf("encodeURIComponent = %q", got)
	}
	if len(newSID()) != 32 {
		t.Fatal("sid is not 32 characters like uid-safe's uid(24)")
	}
}

// TestConnectSaveScript applies changes to stored objects of awkward
// shapes: untouched values keep their bytes, the result is the JSON the
// change asks for.
func TestConnectSaveScript(t *testing.T) {
	ctx := context.Background()
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		rdb := tg.Client(t)
		k := redistest.Unique(t) + ":sess:x"
		for _, tc := range []struct {
			stored string
			sets   []string // key, value pairs
			dels   []string
			want   string // exact bytes
		}{
			{`{"cookie":{},"a":1}`, []string{"a", "2"}, nil, `{"cookie":{},"a":2}`},
			{`{"cookie":{},"a":1}`, []string{"b", `[]`}, nil, `{"cookie":{},"a":1,"b":[]}`},
			{`{"cookie":{},"a":1,"b":2}`, nil, []string{"a"}, `{"cookie":{},"b":2}`},
			{` { "cookie" : { "x" : [ ] } , "e" : [ ] , "n" : 0.12345678901234567 } `, []string{"z", "true"}, nil,
				`{"cookie" : { "x" : [ ] },"e" : [ ],"n" : 0.12345678901234567,"z":true}`},
			{`{"cookie":{},"s":"}{\"][,\\","t":{"u":["]",{"v":"}"}]},"w":null}`, []string{"w", "1"}, []string{"s"},
				`{"cookie":{},"t":{"u":["]",{"v":"}"}]},"w":1}`},
			{`{"cookie":{},"a":1,"a":2}`, []string{"a", "3"}, nil, `{"cookie":{},"a":3}`},
			{`{"cookie":{},"\u00e9":1,"big":12345678901234567890}`, []string{"é", `"x"`}, nil, `{"cookie":{},"é":"x","big":12345678901234567890}`},
			{`{"cookie":{}}`, []string{"a/b", `{"c":[1,2]}`}, []string{"missing"}, `{"cookie":{},"a\/b":{"c":[1,2]}}`},
		} {
			if err := rdb.Set(ctx, k, tc.stored, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			args := []any{0, len(tc.sets) / 2}
			for _, v := range tc.sets {
				args = append(args, v)
			}
			for _, v := range tc.dels {
				args = append(args, v)
			}
			if err := connectSaveScript.Run(ctx, rdb, []string{k}, args...).Err(); err != nil {
				t.Fatalf("%s: %v", tc.stored, err)
			}
			got, _ := rdb.Get(ctx, k).Result()
			if got != tc.want {
				t.Errorf("stored %s, set %v, del %v:\ngot  %s\nwant %s", tc.stored, tc.sets, tc.dels, got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("result is not JSON: %s", got)
			}
			if ttl, _ := rdb.TTL(ctx, k).Result(); ttl < 50*time.Second {
				t.Errorf("TTL not kept: %v", ttl)
			}
		}
	})
}

func FuzzUnsignSID(f *testing.F) {
	f.Add(signSID("abc", "k"), "k")
	f.Add("s:.", "k")
	f.Add("s:abc.", "")
	f.Fuzz(func(t *testing.T, v, secret string) {
		if secret == "" {
			return
		}
		sid, ok := unsignSID(v, []string{secret})
		if ok && signSID(sid, secret) != v {
			t.Fatalf("accepted %q as %q, which signs to %q", v, sid, signSID(sid, secret))
		}
	})
}

func FuzzParseBlob(f *testing.F) {
	f.Add([]byte(`{"cookie":{"originalMaxAge":1},"a":[]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"cookie":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBlob(data)
		if err != nil {
			return
		}
		out, err := b.encode()
		if err != nil || !json.Valid(out) {
			t.Fatalf("re-encoding %q: %q %v", data, out, err)
		}
		if _, err := parseBlob(out); err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", out, err)
		}
	})
}
