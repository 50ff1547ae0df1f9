"""collapsekit: published collapse claims, each checked symbolically, numerically and by simulation."""
__version__ = "0.1.0"
