"""Stand-ins for what intake talks to outside the province (tests and development):
the national portal and the payment gateway."""
