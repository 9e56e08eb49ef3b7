"""Fake gateways for tests and local runs: eSMS JSON, Viettel SOAP, Zalo ZNS.

Each records what it received, deduplicates on the client request id, sends delivery
receipts to a callback URL, and obeys `POST /_control` to misbehave on purpose.
"""
