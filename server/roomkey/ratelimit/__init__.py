"""Rate limits: fixed-window counters, in memory (one node) or in Redis (cluster-wide)."""
