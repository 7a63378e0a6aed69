"""A page POST without its CSRF token gets the console's own 403 page saying what to do."""

from __future__ import annotations

from django.test import Client


def test_a_post_without_a_csrf_token_gets_the_styled_403_page(make_user):
    admin, _ = make_user("admin")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/users/", {"username": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "reload the page and try again" in page
    assert "CSRF verification failed" not in page
    assert "<nav" in page  # the console's layout, not Django's bare page
