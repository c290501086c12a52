"""Cluster-wide channel state: subscription counts and presence members.
``base.PresenceStore``; ``create_presence_store`` picks memory or Redis."""
