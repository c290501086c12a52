"""An example application that embeds roomkey (see README.md)."""
