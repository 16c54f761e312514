"""Bank account-ownership simulator (see :mod:`simulators.bank.app`)."""
