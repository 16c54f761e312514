"""Mobile-operator subscriber check simulator (see :mod:`simulators.telco.app`)."""
