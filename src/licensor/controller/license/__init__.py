"""The license: installation identity, request codes, activation, the cached verdict, history, the clock."""
