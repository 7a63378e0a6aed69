"""The overview's empty state says what to do next, and /favicon.ico answers without a login (a
browser asks for it on fragments and JSON opened in a tab)."""

from __future__ import annotations

from django.test import Client


def test_empty_overview_says_what_to_do_next(make_user):
    user, _ = make_user("viewer")
    client = Client()
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "No queues seen yet" in page
    assert "check the broker URL" in page and "send a task" in page


def test_favicon_ico_leads_to_the_console_icon_without_a_login(db):
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith(".svg") and "favicon" in response["Location"]
