"""The controller: the license manager that runs at the customer (needs ``licensor[server]``)."""
