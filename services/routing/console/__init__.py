"""Operator console served by routing at ``/console/`` (plain HTML, CSS and JS)."""

from services.routing.console.router import router

__all__ = ["router"]
