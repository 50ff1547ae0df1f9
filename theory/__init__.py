"""Symbolic layer of collapsekit: closed forms and their proofs, in sympy only.

Nothing here imports numpy, torch or any other collapsekit layer.
"""
