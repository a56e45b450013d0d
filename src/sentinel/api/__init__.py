"""The HTTP API: application factory, health endpoints and (per domain) routes."""
