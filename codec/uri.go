package codec

// ValidURI checks uri against the WAMP spec's URI rules. Loose (strict false):
// components separated by '.', each non-empty and free of whitespace and '#'.
// Strict: components of [0-9a-z_] only. With allowEmptyComponents (prefix and
// wildcard patterns), components may be empty, and so may the whole URI.
// It does not allocate.
func ValidURI(uri []byte, strict, allowEmptyComponents bool) bool {
	if len(uri) == 0 {
		return allowEmptyComponents
	}
	compLen := 0
	for _, c := range uri {
		if c == '.' {
			if compLen == 0 && !allowEmptyComponents {
				return false
			}
			compLen = 0
			continue
		}
		if !uriChar(c, strict) {
			return false
		}
		compLen++
	}
	return compLen > 0 || allowEmptyComponents
}

func uriChar(c byte, strict bool) bool {
	if strict {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
	}
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', '#':
		return false
	}
	return true
}
