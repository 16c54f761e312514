"""The client registry: the personal cabinet of Resolution No. 63 item 6 (R-6.1–R-6.7)."""
