"""An NCALayer stand-in: the local WebSocket (``wss://127.0.0.1:13579``) that Kazakh browsers sign through,
speaking the subset the hosted page and web SDK use, signing with keystores issued by the NCA simulator."""
