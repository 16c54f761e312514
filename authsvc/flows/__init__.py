"""authsvc/flows."""
