// L1 invalidation subscribers (see docs/l2-key-layout.md, "Invalidation channel").
