"""``{% routing_map_link broker vhost queue %}``: a link to the broker's routing map (around one
queue when named), only where the broker's transport can draw one."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from messaging.routing_map import has_topology

register = template.Library()


@register.simple_tag
def routing_map_link(broker: str, vhost: str = "", queue: str = "", text: str = "routing map") -> SafeString | str:
    if not has_topology(broker):
        return ""
    query = {key: value for key, value in (("vhost", vhost), ("around", queue)) if value}
    url = reverse("routing-map", args=[broker]) + ("?" + urlencode(query) if query else "")
    return format_html('<a class="routing-map-link" href="{}">{}</a>', url, text)
