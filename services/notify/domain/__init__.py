"""Pure core of the notify service: templates, SMS text rules, delivery lifecycle.

Nothing in this package does I/O; time, randomness and recent history are passed in.
"""
