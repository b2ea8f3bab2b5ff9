"""Earpiece as a Home Assistant citizen over the Wyoming protocol: each earbud a satellite (satellites.py)."""
