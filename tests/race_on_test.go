//go:build race

package tests

// raceEnabled: the tests run with -race, so wampd is built with -race too.
const raceEnabled = true
