"""Subcommands of `main.py`, one module each."""
