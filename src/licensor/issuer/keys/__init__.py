"""Signing keys: the active key, rotation, retired and removed keys, the published public set."""
