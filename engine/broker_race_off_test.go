//go:build !race

package engine

const brokerRace = false
