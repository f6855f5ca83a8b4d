"""The issuer: the vendor side that signs license keys."""
