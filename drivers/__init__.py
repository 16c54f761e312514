"""Hardware access for kiosks and terminals (R-2.8, R-2.9, R-2.10): PKCS#11 tokens (`drivers.pkcs11`),
PC/SC readers and cards (`drivers.pcsc`) and the kiosk agent (`drivers.kiosk`).

Nothing here is imported by `authsvc` at run time: the kiosk agent talks to the service over HTTP only.
Blocking device calls run on a dedicated thread per device, never on an event loop.
"""
