"""The catalogue: products with their feature lists, and plans (defaults for issuing)."""
