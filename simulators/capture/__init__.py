"""Liveness capture simulator: a live subject rendered on a 3-D face mesh from one real photo, and the
presentation attacks made from the same photo (prints, a print with the eyes cut out, screen replay,
video injection), each following a liveness script. See ``session`` for the kinds, ``python -m
simulators.capture`` to write one capture, ``python -m simulators.capture.evaluate`` for the ISO/IEC
30107-3 figures of the decision on a generated corpus.
"""
