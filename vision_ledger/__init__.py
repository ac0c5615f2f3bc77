"""VISION Ledger core: the books of village savings groups.

Knows SQLAlchemy, dateutil and Babel; knows nothing of Flask, HTTP, USSD or SMS gateways.
"""
