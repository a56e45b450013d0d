"""Devices: enrollment tokens, enrollment, per-device credentials, groups and management."""
