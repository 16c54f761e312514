"""Credit bureau simulator (see :mod:`simulators.bureau.app`)."""
