// The tiered cache and the authorization cache.
