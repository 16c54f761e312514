"""Tests for authsvc.pki."""
