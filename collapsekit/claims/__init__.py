"""Importing this package registers every claim."""
from collapsekit.claims import (  # noqa: F401
    dln,
    dyn,
    etf,
    model_collapse,
    model_collapse_accumulate,
    model_collapse_gaussian,
    model_collapse_mixing,
    model_collapse_ridge,
    model_collapse_scaling,
    posterior_collapse,
    ssl,
    ufm_ce,
    ufm_mse,
    ufm_sdp,
)
