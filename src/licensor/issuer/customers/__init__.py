"""Customers and the installations the issuer learned from their request codes."""
