"""Grey and black lists of identifiers (phone, IIN, device id, IBAN), R-NB.8: fed by incidents, by the
Anti-fraud centre's national feed and by lenders; checked on every identification (`service.hits`)."""
