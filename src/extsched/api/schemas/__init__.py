"""Request and response shapes: camelCase on the wire, times in RFC 3339 UTC (SPEC §4)."""
