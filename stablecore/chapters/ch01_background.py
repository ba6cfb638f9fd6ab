"""Chapter 1: introduction and background (sensitivity, Lipschitz constants, margin certificates, RS basics).

Reported numbers only (THESIS.md §2). The settings of §2 (radii 36/255 ..., n₀, n, α) are
configuration, not numbers to reproduce; Cohen et al.'s certified accuracies live in chapter 5.
"""

from __future__ import annotations

from functools import partial

from stablecore.chapters.reported import ReportedNumber, number

CHAPTER: int = 1
TITLE: str = "Introduction and background: sensitivity, Lipschitz constants, margin certificates, RS basics"
NOTEBOOK: str = "notebooks/ch01_background.ipynb"

_n = partial(number, CHAPTER)

REPORTED: tuple[ReportedNumber, ...] = (
    _n(
        "ch01.sll_issue2.lln_cifar100.pgd_lipschitz_lower_bound",
        "PGD lower bound on the Lipschitz constant of an SLL model with last-layer normalisation (LLN), "
        "CIFAR-100: the LLN model as a whole is not 1-Lipschitz",
        "1.8",
        "",
        "araujoalexandre/Lipschitz-SLL-Networks GitHub issue #2, via THESIS.md §2",
        note="a lower bound (attack), so certificates must use the pairwise LLN denominators",
    ),
)
