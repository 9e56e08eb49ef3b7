"""Project tools that see every service at once (not part of any service)."""
