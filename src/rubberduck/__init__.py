"""Rubberduck: a local LLM caching reverse proxy with failure simulation."""

__version__ = "0.1.0"
