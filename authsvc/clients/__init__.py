"""authsvc/clients."""
