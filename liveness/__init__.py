"""Face pipeline for biometric identification (R-7.3b): no HTTP, no work at import time.

Modules (import what you need; heavy libraries and models load on first use, once per process):

- ``images``: JPEG/PNG bytes → RGB arrays with a pixel cap checked before decoding.
- ``models``: lazy dlib / MediaPipe loading; the models and their licences.
- ``detect``: HOG detection, 5-point alignment, 128-d encodings, distances.
- ``mesh`` / ``geometry``: 478-point Face Mesh; eye and mouth openness, head pose.
- ``pipeline``: ``analyze_frame`` — everything per frame, picklable for a process pool.
- ``quality``: registration photo checks with named reasons (R-6.1).
- ``match``: live frames against the document or registration photo.
- ``augment`` / ``calibrate``: degradations and the threshold calibration (``python -m liveness.calibrate``).

Errors come from ``liveness.errors`` (root ``LivenessError``, each with a stable ``code``).
"""
