"""SMS gateway and verification-call simulator (see :mod:`simulators.sms.app`)."""
