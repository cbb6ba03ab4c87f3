package cache

import (
	_ "embed"

	"github.com/rediskit/rediskit/internal/script"
)

var (
	//go:embed lease-2.lua
	leaseSrc string
	//go:embed fill-2.lua
	fillSrc string
	//go:embed wbegin-2.lua
	wbeginSrc string
	//go:embed wend-4.lua
	wendSrc string
	//go:embed tagtake-2.lua
	tagtakeSrc string
	//go:embed tagadd-2.lua
	tagaddSrc string

	leaseScript   = script.New("lease-2.lua", leaseSrc)
	fillScript    = script.New("fill-2.lua", fillSrc)
	wbeginScript  = script.New("wbegin-2.lua", wbeginSrc)
	wendScript    = script.New("wend-4.lua", wendSrc)
	tagtakeScript = script.New("tagtake-2.lua", tagtakeSrc)
	tagaddScript  = script.New("tagadd-2.lua", tagaddSrc)
)
