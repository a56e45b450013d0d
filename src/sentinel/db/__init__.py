"""Database access: connections over verified TLS, pools, and (later) the tenant router."""
