"""Who may act: admin users and their sessions, API tokens and their scopes, the audit log."""
