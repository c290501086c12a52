"""Cross-node fan-out: ``base.Broker``; ``create_broker`` picks memory or Redis."""
