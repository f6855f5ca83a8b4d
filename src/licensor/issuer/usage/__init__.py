"""Usage reports: what a controller says it used, against the license it holds."""
