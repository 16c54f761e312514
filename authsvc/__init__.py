"""authsvc: identification and authentication of borrowers for Kazakh lenders (Resolution No. 63)."""

__version__ = "0.1.0"
