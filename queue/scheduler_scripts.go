package queue

import "github.com/rediskit/rediskit/internal/script"

// The job scheduler scripts get lua/common.lua and lua/scheduler-common.lua
// prepended.
func loadScheduler(name string) *script.Script {
	var src []byte
	for _, f := range []string{"lua/common.lua", "lua/scheduler-common.lua", "lua/" + name} {
		b, err := luaFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		src = append(append(src, b...), '\n')
	}
	return script.New(name, string(src))
}

var (
	schedUpsertScript  = loadScheduler("scheduler-upsert-11.lua")
	schedAdvanceScript = loadScheduler("scheduler-advance-10.lua")
	schedRemoveScript  = loadScheduler("scheduler-remove-3.lua")
)

// ARGV positions of scheduler-upsert-11.lua (1-based, as in Lua).
const (
	argUpsertPrefix = iota + 1
	argUpsertNow
	argUpsertID
	argUpsertNext
	argUpsertName
	argUpsertEvery
	argUpsertPattern
	argUpsertTZ
	argUpsertLimit
	argUpsertStartDate
	argUpsertEndDate
	argUpsertOffset
	argUpsertData
	argUpsertTemplateOpts
	argUpsertJobOpts
	argUpsertCount = argUpsertJobOpts
)

// ARGV positions of scheduler-advance-10.lua.
const (
	argAdvancePrefix = iota + 1
	argAdvanceNow
	argAdvanceID
	argAdvanceNext
	argAdvanceJobOpts
	argAdvanceProducer
	argAdvanceCount = argAdvanceProducer
)

// ARGV positions of scheduler-remove-3.lua.
const (
	argRemovePrefix = iota + 1
	argRemoveID
	argRemoveCount = argRemoveID
)

// Return codes of scheduler-upsert-11.lua and scheduler-advance-10.lua.
const (
	codeSchedCollision = -10 // upsert: a cron iteration with the id exists, not pending
	codeSchedSlotsBusy = -11 // upsert: 32 consecutive `every` slots are taken
)
