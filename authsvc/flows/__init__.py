"""Identification flows: the persisted state of each identification, judged against regulatory profiles.

`profiles` reads the profiles (configs/profiles), `judge` decides a verdict from the steps, `signals` weighs
the app's device signals, `session.Flows` owns an identification from opening to its end.
"""
