"""Organizations (tenants), their members and invitations."""
