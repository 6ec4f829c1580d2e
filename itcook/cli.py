"""Flask CLI commands of the app: ``flask --app wsgi itcook ...``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from itcook.auth.services import create_user, validate_password
from itcook.config import SETTINGS
from itcook.errors import ApiError
from itcook.extensions import db
from itcook.models import User

group = AppGroup("itcook", help="IT Cook administration commands.")


@group.command("create-admin")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="password of a new user (ignored when promoting an existing one)")
def create_admin(username: str, password: str) -> None:
    """Create an admin user, or promote an existing user to admin."""
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is not None:
        user.role = "admin"
        db.session.commit()
        click.echo(f"promoted {user.username} (id {user.id}) to admin")
        return
    try:
        validate_password(password)
        user = create_user(username, password, role="admin")
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"created admin {user.username} (id {user.id})")


@group.command("settings")
def settings_table() -> None:
    """Print the settings as the Markdown table of docs/deployment.md."""
    click.echo("| variable | default | meaning |\n|---|---|---|")
    for setting in SETTINGS:
        default = setting.default
        shown = ",".join(default) if isinstance(default, list) else default
        click.echo(f"| `{setting.env}` | `{shown}` | {setting.help} |")


def register_cli(app: Flask) -> None:
    """Attach the ``itcook`` command group to the app."""
    app.cli.add_command(group)
