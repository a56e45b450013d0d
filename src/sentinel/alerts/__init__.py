"""Alerts: rules (thresholds held for a duration, battery, offline, new devices), school
hours, an idempotent alert lifecycle, and e-mail / webhook notifications with digests."""
