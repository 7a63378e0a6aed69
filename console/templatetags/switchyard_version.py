"""``{% switchyard_version %}``: the version ``switchyard --version`` prints (switchyard.__version__)."""

from __future__ import annotations

from django import template

from switchyard import __version__

register = template.Library()


@register.simple_tag
def switchyard_version() -> str:
    return __version__
