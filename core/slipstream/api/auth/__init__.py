"""Users, passwords, tokens, roles: who may do what through the API and the UI."""
