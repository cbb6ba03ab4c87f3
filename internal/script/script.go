// Package script runs embedded Lua scripts with EVALSHA, falling back to
// EVAL (which also loads the script) when the server answers NOSCRIPT, and
// maps error replies of the form "ERR-CODE:<code> <detail>" raised by
// scripts to Go errors in one place.
//
// Scripts live in .lua files next to the code that runs them, named
// <name>-<numkeys>.lua, each starting with a header comment that lists
// KEYS, ARGV and the return values.
package script

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Script is one Lua script. Safe for concurrent use.
type Script struct {
	name    string
	src     string
	sha     string
	numKeys int
}

// New returns a Script. name is the file name (e.g. "acquire-2.lua"); the
// number before ".lua" is the number of KEYS the script takes and is
// checked on every run.
func New(name, src string) *Script {
	h := sha1.Sum([]byte(src))
	s := &Script{name: name, src: src, sha: hex.EncodeToString(h[:]), numKeys: -1}
	base := strings.TrimSuffix(path.Base(name), ".lua")
	if i := strings.LastIndexByte(base, '-'); i >= 0 {
		if n, err := strconv.Atoi(base[i+1:]); err == nil {
			s.numKeys = n
		}
	}
	return s
}

// Name is the script's file name.
func (s *Script) Name() string { return s.name }

// Hash is the SHA1 of the script source.
func (s *Script) Hash() string { return s.sha }

// Source is the Lua source.
func (s *Script) Source() string { return s.src }

// Scripter is the subset of a go-redis client that runs scripts; both
// clients and pipelines implement it.
type Scripter interface {
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
}

// Run executes the script with EVALSHA, then EVAL on NOSCRIPT.
func (s *Script) Run(ctx context.Context, c Scripter, keys []string, args ...any) *redis.Cmd {
	if s.numKeys >= 0 && len(keys) != s.numKeys {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(fmt.Errorf("script %s: %d keys given, %d expected", s.name, len(keys), s.numKeys))
		return cmd
	}
	cmd := c.EvalSha(ctx, s.sha, keys, args...)
	if err := cmd.Err(); err != nil && IsNoScript(err) {
		return c.Eval(ctx, s.src, keys, args...)
	}
	return cmd
}

// Queue adds an EVALSHA of the script to a pipeline. Use Load (or one Run)
// first so that the script is cached on every node the pipeline touches;
// RunPipeline does that for you.
func (s *Script) Queue(ctx context.Context, p redis.Pipeliner, keys []string, args ...any) *redis.Cmd {
	return p.EvalSha(ctx, s.sha, keys, args...)
}

// Load loads the script on every master (cluster) or the node (single).
func (s *Script) Load(ctx context.Context, c redis.UniversalClient) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.ScriptLoad(ctx, s.src).Err()
		})
	}
	return c.ScriptLoad(ctx, s.src).Err()
}

// IsNoScript reports whether err is a NOSCRIPT reply.
func IsNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// CodeError is a script's own error reply "ERR-CODE:<code> <detail>",
// raised in Lua with redis.error_reply("ERR-CODE:<code> <detail>").
type CodeError struct {
	Script string
	Code   string
	Detail string
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("script %s: %s %s", e.Script, e.Code, e.Detail)
}

// Err maps a reply error of the script to *CodeError when it carries a
// code, and leaves other errors (network, redis.Nil) as they are.
func (s *Script) Err(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "ERR-CODE:"); ok {
		code, detail, _ := strings.Cut(rest, " ")
		return &CodeError{Script: s.name, Code: code, Detail: detail}
	}
	return err
}
