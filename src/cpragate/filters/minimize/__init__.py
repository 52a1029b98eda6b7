"""Per-purpose data minimization (priority 400): field allow-lists and deny-lists over
JSON paths, per route, chosen by the caller's consumer name or CPRA purpose."""
