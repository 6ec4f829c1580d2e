"""The fridge domain: blueprint, routes, services, the periodic expiry scan and its command."""

from __future__ import annotations

import click
from flask import Blueprint, Flask, current_app
from flask.cli import with_appcontext

bp = Blueprint("fridge", __name__, url_prefix="/api/v1/fridge")

from itcook.fridge import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.fridge.services import MAX_EXPIRY_DAYS, scan_expiring  # noqa: E402

SCAN_JOB = "fridge-expiry-scan"


def _scheduled_scan() -> int:
    # Read at each run, so a config change (or a test) is seen without re-registering.
    return scan_expiring(current_app.config["EXPIRY_SCAN_DAYS"])


@click.command("expiry-scan")
@click.option("--days", type=click.IntRange(0, MAX_EXPIRY_DAYS), default=None,
              help="announce items expiring within this many days (default ITCOOK_EXPIRY_SCAN_DAYS)")
@with_appcontext
def scan_command(days: int | None) -> None:
    """Announce every user's expiring fridge items once now (as the periodic scan does)."""
    if days is None:
        days = current_app.config["EXPIRY_SCAN_DAYS"]
    notified = scan_expiring(days)
    click.echo(f"notified {notified} user(s) of items expiring within {days} day(s)")


def init_app(app: Flask) -> None:
    """Register the periodic expiry scan (started by the server, not here) and its command."""
    from itcook import jobs

    jobs.register(app, SCAN_JOB, app.config["EXPIRY_SCAN_INTERVAL"], _scheduled_scan)
    app.cli.add_command(scan_command)


__all__ = ["SCAN_JOB", "bp", "init_app", "scan_command"]
