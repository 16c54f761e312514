"""A virtual PIV smart card for pcscd's `vsmartcard-vpcd` reader driver (`python -m simulators.vcard`):
the R-2.8 smart card a kiosk (R-2.9) reads, without hardware.

Any PC/SC program (OpenSC's `opensc-pkcs11.so` and `pkcs11-tool`, `pcsc_scan`, `drivers.pcsc`) sees a
"Virtual PCD 00 00" reader and a card in it. The card answers the NIST SP 800-73-4 subset:

    SELECT PIV AID (A0 00 00 03 08 00 00 10 00 01 00)   application property template
    GET DATA 3F FF    discovery 7E, CHUID 5FC102, CCC 5FC107, key history 5FC10C,
                      certificates 5FC105 (9A), 5FC10A (9C), 5FC10B (9D), 5FC101 (9E), 5FC10D (82)
    VERIFY 80         PIN 6-8 digits padded with FF; 63Cx = x tries left, 6983 = blocked (3 tries);
                      empty data asks for the status, P1=FF logs out
    CHANGE REFERENCE DATA 80/81, RESET RETRY COUNTER 80 (PUK unblocks the PIN)
    GENERAL AUTHENTICATE 87 alg key  7C{82 00, 81 challenge} -> 7C{82 signature}:
        07 RSA-2048 (9A), 11 ECC P-256 (9C), D2 GOST R 34.10-2015-512 (82) — see `keys`

Algorithm reference D2 is this card's private one (SP 800-78-4 assigns none to GOST): the challenge
is the 64-byte Streebog-512 digest and the answer NCA's 128-byte r‖s little-endian signature. The
GOST key sits in retired slot 82 and the key history object announces no retired certificates, so
OpenSC (which knows no GOST) ignores it; `drivers.pcsc.PivCard` reads 5FC10D and signs with D2.

Transport: command chaining and extended APDUs (advertised in the ATR's card capabilities), long
answers in 61xx pieces fetched with GET RESPONSE, 6Cxx for a short Le that is too small.
Modules: `apdu` (command parsing), `tlv`, `keys`, `piv` (the application), `card` (transport rules),
`vpcd` (the socket protocol), `control` (HTTP insert/remove/status), `provision` (NCA certificates),
`pcscd` (a private pcscd for tests), `server`."""
