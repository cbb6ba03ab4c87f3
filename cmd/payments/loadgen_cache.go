package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/rediskit/rediskit/payments"
)

// cacheCheck is the cross-side cache check: a Go price change, then
// Nest's next read of the product.
type cacheCheck struct {
	ran     bool
	product int64
	before  int64  // the price Nest served (and cached) before the change
	wrote   int64  // the price Go wrote
	seen    int64  // the price Nest served right after
	xcache  string // Nest's X-Cache header on that read
	err     error
}

// crossCacheCheck reads a product on Nest (so Nest has it cached), changes
// its price on Go, and reads it on Nest again at once.
func crossCacheCheck(ctx context.Context, c loadConfig, id int64) cacheCheck {
	cc := cacheCheck{product: id}
	if len(c.urls) == 0 || len(c.nestURLs) == 0 {
		return cc
	}
	cc.ran = true
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	goURL, nestURL := c.urls[0], c.nestURLs[0]
	do := func(method, url string, body any, want int, out any) (http.Header, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, url, err)
			}
		}
		return resp.Header, nil
	}
	path := fmt.Sprintf("/products/%d", id)
	var p payments.Product
	if _, cc.err = do("POST", goURL+"/login", map[string]string{"email": "user1@example.com", "password": c.password}, 200, nil); cc.err != nil {
		return cc
	}
	if _, cc.err = do("GET", nestURL+path, nil, 200, &p); cc.err != nil {
		return cc
	}
	cc.before, cc.wrote = p.PriceCents, p.PriceCents+1
	if _, cc.err = do("PUT", goURL+path, map[string]any{"name": p.Name, "price_cents": cc.wrote}, 200, nil); cc.err != nil {
		return cc
	}
	var hdr http.Header
	if hdr, cc.err = do("GET", nestURL+path, nil, 200, &p); cc.err != nil {
		return cc
	}
	cc.seen, cc.xcache = p.PriceCents, hdr.Get("X-Cache")
	return cc
}

func (cc cacheCheck) print(w io.Writer) {
	switch {
	case !cc.ran:
		return
	case cc.err != nil:
		fmt.Fprintf(w, "cross-side cache     check failed: %v\n", cc.err)
	case cc.seen == cc.wrote:
		fmt.Fprintf(w, "cross-side cache     Go set product %d to %d cents (was %d); Nest's next read served %d (X-Cache %s) -> seen at once\n",
			cc.product, cc.wrote, cc.before, cc.seen, cc.xcache)
	default:
		fmt.Fprintf(w, "cross-side cache     Go set product %d to %d cents (was %d); Nest's next read served %d (X-Cache %s) -> STALE "+
			"(Nest keeps its own Keyv entry unless the Go instances run with PAYMENTS_PRODUCT_CACHE=keyv)\n",
			cc.product, cc.wrote, cc.before, cc.seen, cc.xcache)
	}
}
