"""Telemetry queries: a device's metrics over time and fleet summaries."""
