//go:build race

package client_test

// raceEnabled: the race detector changes allocation counts (sync.Pool drops items at random).
const raceEnabled = true
