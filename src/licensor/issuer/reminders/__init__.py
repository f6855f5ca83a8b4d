"""Expiry reminders: licenses about to expire get one e-mail to the customer's contact."""
