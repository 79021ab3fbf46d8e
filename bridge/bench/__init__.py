"""The benchmark of SPEC section 9: ``realtime-bridge bench``."""
