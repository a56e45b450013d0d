"""Sentinel: multi-tenant device monitoring for schools."""

__version__ = "0.1.0"
