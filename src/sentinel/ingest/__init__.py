"""Ingest: consumes device messages from the broker, validates them, writes telemetry in
per-organization batches, then sends receipts, updates presence and feeds the live view."""
