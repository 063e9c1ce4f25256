"""The ``roster`` commands, one module per command group; cli.py loads each on first use.

A command parses its input, makes one call into the domain in one transaction, and renders the
result through ``app.out``. Nothing here queries the database, writes files or lays out URLs.
"""
