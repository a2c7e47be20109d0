"""Recordings as files: one JSON document per cache entry (files.py), a directory as a cache store
(filestore.py), a directory's check (check.py) and the `rubberduck recordings` commands."""
