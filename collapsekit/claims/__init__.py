"""Importing this package registers every claim."""
from collapsekit.claims import dyn, etf, model_collapse, posterior_collapse, ssl, ufm_ce, ufm_mse, ufm_sdp  # noqa: F401
