"""authsvc/api."""
