"""authsvc/store."""
