//go:build race

package netpoll

// sync.Pool drops items at random under the race detector.
const raceEnabled = true
