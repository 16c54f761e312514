"""The kiosk agent (`authsvc-kiosk`, R-2.9, R-10.1): a client's token, card or key file at a lender's
kiosk signs the service's EDS challenge or a loan contract; the service is reached over HTTP only."""
