package engine

// The router's advertised roles and features, in one place. A feature is
// listed here only when it works end to end; each later feature (pattern
// matching, shared registrations, progressive results, call canceling,
// disclosure, meta API, ...) adds its line when it lands.

var brokerFeatures = map[string]any{
	"publisher_exclusion": true,
}

var dealerFeatures = map[string]any{}

// routerRoles is WELCOME.Details.roles. It is read-only after init; the codec
// encodes it without modifying it.
var routerRoles = map[string]any{
	"broker": map[string]any{"features": brokerFeatures},
	"dealer": map[string]any{"features": dealerFeatures},
}
