"""Exact stack rANS coder (Cython over a small C hot loop) and its pure-Python twin."""
