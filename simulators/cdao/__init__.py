"""CDAO biometric identification simulator (see :mod:`simulators.cdao.app`)."""
