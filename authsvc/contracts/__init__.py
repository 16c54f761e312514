"""Loan contracts signed by EDS or one-time code and re-checked later (R-10.1, R-12.1, R-12.2)."""
