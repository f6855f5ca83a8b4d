"""Accounts: the admin password, admin and join tokens, the sign-in limit, console sessions and the sign-in pages."""
