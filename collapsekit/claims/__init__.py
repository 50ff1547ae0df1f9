"""Importing this package registers every claim."""
from collapsekit.claims import dyn, etf, ufm_ce, ufm_mse, ufm_sdp  # noqa: F401
