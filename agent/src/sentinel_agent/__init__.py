"""The Sentinel agent: collects device health and inventory and streams them to the server.

It collects no content — no keystrokes, screens, files or browsing — and keeps every sample in
a local spool until the server confirms it is stored.
"""

__version__ = "0.1.0"
