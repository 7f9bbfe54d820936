//go:build race

package engine

// brokerRace: the race detector makes sync.Pool drop items at random, so
// allocation guards that rely on a pool are skipped under -race.
const brokerRace = true
