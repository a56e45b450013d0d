"""Identity: users, password login, sessions with rotating refresh tokens, access tokens."""
