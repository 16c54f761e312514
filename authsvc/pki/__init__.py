"""authsvc/pki."""
