"""Relay services: the writes (accept, processing, sending, bounces, queue, actions)."""
