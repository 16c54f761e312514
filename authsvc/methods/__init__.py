"""authsvc/methods."""
