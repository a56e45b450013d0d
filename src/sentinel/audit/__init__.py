"""The per-tenant audit log: who changed what, when, from where, before and after."""
