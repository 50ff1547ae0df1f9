"""Importing this package registers every claim."""
from collapsekit.claims import etf  # noqa: F401
