"""Hypothesis settings of the hostile-input properties (tests/security).

Every property runs derandomized (the same examples on every run, so CI is reproducible)
with a modest number of examples; ``ITCOOK_FUZZ_RANDOM=1`` draws fresh examples instead and
``ITCOOK_FUZZ_SCALE=4`` runs four times as many (for a longer hunt by hand).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of one property: bounded, reproducible, no example database."""
    scale = float(os.environ.get("ITCOOK_FUZZ_SCALE", "1"))
    return settings(
        max_examples=max(1, int(max_examples * scale)),
        derandomize=os.environ.get("ITCOOK_FUZZ_RANDOM", "") != "1",
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    )
