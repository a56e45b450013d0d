"""Privacy and data lifecycle: minimal collection by default, per-organization retention,
full export, and verifiable erasure."""
