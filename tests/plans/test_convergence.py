"""Convergence of concurrent plan editors (a Hypothesis property, on this run's database).

Several devices of two users edit one plan with random operations, go offline and come back,
lose answers and retry with the same ``op_id``: at the end every device's view, rebuilt from the
MenuPlanUpdated events it received (live or by resuming with ``last_event_id``), equals the
server's plan; every batch was applied exactly once; and replaying the events by the rules
reproduces the state, each stale overwrite reported to its writer.
"""

from __future__ import annotations

from tests.support.plans import check_convergence


def test_every_editor_converges_on_the_servers_plan(live_server) -> None:
    check_convergence([live_server], examples=25)
