"""authsvc/crypto."""
