package queue

import (
	"embed"

	"github.com/rediskit/rediskit/internal/script"
)

//go:embed lua/*.lua
var luaFS embed.FS

// load builds a script from lua/<name> with the shared helpers of
// lua/common.lua prepended (Redis has no include mechanism).
func load(name string) *script.Script {
	common, err := luaFS.ReadFile("lua/common.lua")
	if err != nil {
		panic(err)
	}
	src, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic(err)
	}
	return script.New(name, string(common)+"\n"+string(src))
}

var (
	addScript     = load("add-9.lua")
	flowScript    = load("flow-1.lua")
	takeScript    = load("take-10.lua")
	finishScript  = load("finish-12.lua")
	extendScript  = load("extend-1.lua")
	stalledScript = load("stalled-8.lua")
	pauseScript   = load("pause-6.lua")
)

var (
	progressScript = load("progress-3.lua")
	logScript      = load("log-2.lua")
	updateScript   = load("update-1.lua")
	priorityScript = load("priority-6.lua")
	delayScript    = load("delay-4.lua")
	promoteScript  = load("promote-8.lua")
	waitScript     = load("waitchildren-7.lua")
)

var (
	removeScript     = load("remove-2.lua")
	childDepScript   = load("childdep-2.lua")
	retryScript      = load("retry-8.lua")
	cleanScript      = load("clean-3.lua")
	drainScript      = load("drain-4.lua")
	obliterateScript = load("obliterate-2.lua")
)
