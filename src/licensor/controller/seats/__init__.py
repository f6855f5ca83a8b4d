"""Seats of agent nodes and remote clusters: the batch service, its bookkeeping, its API and its console pages."""
