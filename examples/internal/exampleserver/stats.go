package exampleserver

import (
	"expvar"
	"sync"
	"sync/atomic"
)

// expvar names can be published once per process, but a process (a test)
// may run an example several times: each name is published once and
// reports whatever its latest Server set.
var (
	statsMu    sync.Mutex
	statsFuncs = make(map[string]*atomic.Pointer[func() any])
)

// publishStats makes f the source of the /debug/vars entry name.
func publishStats(name string, f func() any) {
	statsMu.Lock()
	defer statsMu.Unlock()
	p := statsFuncs[name]
	if p == nil {
		p = new(atomic.Pointer[func() any])
		statsFuncs[name] = p
		expvar.Publish(name, expvar.Func(func() any { return (*p.Load())() }))
	}
	p.Store(&f)
}
