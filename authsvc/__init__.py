"""authsvc."""
