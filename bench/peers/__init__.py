"""Peers the benchmark measures roomkey against: other servers, each installed from its own
package registry into a folder of its own (``bench/peers/<name>/``), started and stopped by
the run like every other server under test."""
