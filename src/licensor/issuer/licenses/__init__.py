"""Licenses: issue from a request code, renew, rehost, search, download, send."""
