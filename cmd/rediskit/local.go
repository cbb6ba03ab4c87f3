package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// localState is what `up` leaves in <dir>/cluster.json for `down` and
// `status`.
type localState struct {
	Dir   string   `json:"dir"`
	Addrs []string `json:"addrs"`
	PIDs  []int    `json:"pids"`
}

func stateFile(dir string) string { return filepath.Join(dir, "cluster.json") }

func readState(dir string) (*localState, error) {
	b, err := os.ReadFile(stateFile(dir))
	if err != nil {
		return nil, err
	}
	var st localState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile(dir), err)
	}
	return &st, nil
}

func (st *localState) write() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(stateFile(st.Dir), b, 0o644)
}

// alive counts processes of the state that still run.
func (st *localState) alive() int {
	n := 0
	for _, p := range st.PIDs {
		if p > 0 && syscall.Kill(p, 0) == nil && !zombie(p) {
			n++
		}
	}
	return n
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func nodesLine(addrs []string) string { return "REDIS_NODES=" + strings.Join(addrs, ",") }

var errNotRunning = errors.New("no local cluster is running")
