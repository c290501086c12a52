"""The cache-channel backends: the last event published on each cache channel (docs/protocol.md,
"Cache channels"). ``base.py`` is the contract, one module per backend, ``factory.py`` picks."""
