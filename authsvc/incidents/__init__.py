"""Incidents (R-15.1, R-108.2): fraud, unauthorised access or alteration recorded for a client or a loan,
with deadlines counted in business days on a working-day calendar kept as data (`calendar`)."""
