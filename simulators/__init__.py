"""Simulators of every outside party and of the hardware, so the service runs and is tested without real
tokens, cards or government services: the NCA test PKI (CA, OCSP, CRL, TSA; `nca`), the CDAO (`cdao`), mobile
operators (`telco`), SMS gateways and verification calls (`sms`), the credit bureau (`bureau`), the bank
(`bank`), a live-capture generator (`capture`) and a virtual PIV smart card (`vcard`). Each speaks the real
party's protocol; `python -m simulators` starts the HTTP ones together.
"""
