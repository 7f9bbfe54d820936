package engine

// The router's advertised roles and features, in one place. A feature is
// listed here only when it works end to end; each later feature (pattern
// matching, shared registrations, progressive results, call canceling,
// disclosure, meta API, ...) adds its line when it lands.

var brokerFeatures = map[string]any{
	"publisher_exclusion": true,
	// broker*.go
	"publisher_identification":      true,
	"subscriber_blackwhite_listing": true,
	"pattern_based_subscription":    true,
	"event_history":                 true,
	"event_retention":               true,
	"subscription_meta_api":         true,
	"payload_passthru_mode":         true,
	// meta*.go (the spec wants session_meta_api on both roles)
	"session_meta_api": true,
}

var dealerFeatures = map[string]any{
	// dealer_*.go
	"shared_registration":          true,
	"pattern_based_registration":   true,
	"progressive_call_results":     true,
	"progressive_call_invocations": true,
	"call_canceling":               true,
	"call_cancelling":              true, // the spelling the progressive-invocations spec asks for
	"call_timeout":                 true,
	"caller_identification":        true,
	"registration_meta_api":        true,
	"payload_passthru_mode":        true,
	// meta*.go
	"session_meta_api":   true,
	"testament_meta_api": true,
}

// routerRoles is WELCOME.Details.roles. It is read-only after init; the codec
// encodes it without modifying it.
var routerRoles = map[string]any{
	"broker": map[string]any{"features": brokerFeatures},
	"dealer": map[string]any{"features": dealerFeatures},
}
