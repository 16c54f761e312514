"""Anti-fraud centre simulator (R-NB.8): national grey/black list feed and incident intake."""
