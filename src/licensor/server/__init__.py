"""What the controller and issuer HTTP services share (needs ``licensor[server]``)."""
