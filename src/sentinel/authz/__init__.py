"""Authorization: roles → permissions as data, and the organization guard."""
