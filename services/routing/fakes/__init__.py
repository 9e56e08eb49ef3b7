"""Local stand-ins for the systems routing talks to (the postal service)."""
