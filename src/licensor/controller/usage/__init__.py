"""Usage reports: the month's peak seats, signed, and their API."""
