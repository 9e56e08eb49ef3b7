"""Adapters to the outside gateways notify sends through (SMS brandname, Zalo ZNS)."""
