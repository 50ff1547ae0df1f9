"""One module per figure; each defines ``FIGURE`` (see :mod:`collapsekit.figures`).

Generated files go to ``figures/generated/`` (not tracked: ``collapsekit figures``
regenerates them from nothing).
"""
