package queue

// Argument positions of the scripts in lua/, shared with the Lua side:
// each script declares the same names with the same values on a line
// ending in "--@go" right after its header, and TestLuaArgsMatchGo checks
// that the two agree. ARGV positions are 1-based; offsets inside a
// repeated group (one job, one entry) are 0-based from the group's start;
// *Size constants are the length of the group (or of the fixed ARGV).
// Values are literals on purpose: the test reads them from this file.

// add-9.lua
const (
	argAddPrefix = 1
	argAddNow    = 2
	argAddCount  = 3
	argAddJobs   = 4

	addJobID        = 0
	addJobName      = 1
	addJobData      = 2
	addJobOpts      = 3
	addJobDelay     = 4
	addJobPriority  = 5
	addJobLIFO      = 6
	addJobDedup     = 7
	addJobParentKey = 8
	addJobParent    = 9
	addJobSize      = 10
)

// take-10.lua
const (
	argTakePrefix    = 1
	argTakeNow       = 2
	argTakeMax       = 3
	argTakeTokenBase = 4
	argTakeLockMs    = 5
	argTakeWorker    = 6
	argTakeLimMax    = 7
	argTakeLimDur    = 8
	argTakeSize      = 8
)

// extend-1.lua
const (
	argExtendPrefix = 1
	argExtendLockMs = 2
	argExtendJobs   = 3
)

// stalled-8.lua
const (
	argStalledMax      = 1
	argStalledPrefix   = 2
	argStalledNow      = 3
	argStalledInterval = 4
	argStalledSize     = 4
)

// log-2.lua
const (
	argLogLine = 1
	argLogKeep = 2
	argLogSize = 2
)

// flow-1.lua
const (
	argFlowNow   = 1
	argFlowCount = 2
	argFlowNodes = 3

	flowBase        = 0
	flowID          = 1
	flowName        = 2
	flowData        = 3
	flowOpts        = 4
	flowDelay       = 5
	flowPriority    = 6
	flowLIFO        = 7
	flowParentKey   = 8
	flowParent      = 9
	flowHasChildren = 10
	flowNodeSize    = 11
)

// update-1.lua, priority-6.lua, delay-4.lua, promote-8.lua
const (
	argUpdateData = 1
	argUpdateSize = 1

	argPrioPrefix = 1
	argPrioID     = 2
	argPrioValue  = 3
	argPrioLIFO   = 4
	argPrioSize   = 4

	argDelayPrefix = 1
	argDelayID     = 2
	argDelayValue  = 3
	argDelayNow    = 4
	argDelaySize   = 4

	argPromotePrefix = 1
	argPromoteID     = 2
	argPromoteSize   = 2
)

// waitchildren-7.lua
const (
	argWaitToken = 1
	argWaitChild = 2
	argWaitNow   = 3
	argWaitID    = 4
	argWaitSize  = 4
)

// remove-2.lua
const (
	argRmPrefix   = 1
	argRmID       = 2
	argRmChildren = 3
	argRmPending  = 4
	argRmSize     = 4
)

// clean-3.lua
const (
	argCleanPrefix = 1
	argCleanState  = 2
	argCleanCutoff = 3
	argCleanLimit  = 4
	argCleanSize   = 4
)

// drain-4.lua
const (
	argDrainPrefix  = 1
	argDrainDelayed = 2
	argDrainSize    = 2
)

// finish-12.lua
const (
	argFinPrefix    = 1
	argFinNow       = 2
	argFinCount     = 3
	argFinFetch     = 4
	argFinTokenBase = 5
	argFinLockMs    = 6
	argFinWorker    = 7
	argFinLimMax    = 8
	argFinLimDur    = 9
	argFinMetrics   = 10
	argFinRemovals  = 11

	finKeepCount = 0
	finKeepAge   = 1
	finKeepLimit = 2
	finKeepSize  = 3

	finKind      = 0
	finID        = 1
	finToken     = 2
	finValue     = 3
	finDedup     = 4
	finParentKey = 5
	finParent    = 6

	finDoneATM     = 7
	finDoneRemoval = 8
	finDoneSize    = 9

	finFailStack    = 7
	finFailDelay    = 8
	finFailRemoval  = 9
	finFailAttempts = 10
	finFailLIFO     = 11
	finFailATM      = 12
	finFailSize     = 13
)

// argv returns a script's ARGV of n fixed arguments, filled with set:
// set(pos, value) takes 1-based positions like the Lua side; a position
// left unset is sent as "" (go-redis writes nil as an empty string).
func argv(n int) (args []any, set func(pos int, v any)) {
	args = make([]any, n)
	return args, func(pos int, v any) { args[pos-1] = v }
}
