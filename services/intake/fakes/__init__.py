"""Local stand-ins for intake's outside world (the payment gateway)."""
