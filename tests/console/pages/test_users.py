"""Admins manage users in the console (/users/): through real HTTP with Django's test client, a
user an admin creates logs in; a deactivated user's session and token stop working; only admins
reach these routes; no change leaves the console without an active admin; every change is audited
and no audit entry holds a password or token."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from messaging.models import AuditEntry
from tests.conftest import unique

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"<code class=\"secret\" data-secret>([^<]+)</code>")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def log_in(username: str, password: str) -> Client:
    """A login through the login form, as a person does it (axes and the backends included)."""
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, f"login of {username} refused: {response.status_code}"
    return client


def login_refused(username: str, password: str) -> bool:
    response = Client().post("/login/", {"username": username, "password": password})
    return response.status_code != 302


def shown_secret(response) -> str:
    (secret,) = SECRET.findall(response.content.decode())
    return secret


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many logins per test


@pytest.fixture
def admin(make_user):
    return make_user("admin")[0]


def create(admin_client: Client, role: str = "viewer", password: str = "") -> tuple[object, str]:
    username = unique("person")
    response = admin_client.post("/users/", {"username": username, "role": role, "password": password})
    user = get_user_model().objects.get(username=username)
    if password:
        assert response.status_code == 302 and response["Location"] == f"/users/{user.pk}/"
        return user, password
    assert response.status_code == 200
    return user, shown_secret(response)


def test_viewer_created_by_an_admin_logs_in_to_the_pages(admin):
    admin_client = logged_in(admin)
    user, password = create(admin_client, "viewer")
    assert len(password) >= 12

    viewer = log_in(user.username, password)
    assert viewer.get("/").status_code == 200
    assert viewer.get("/docs/api/").status_code == 200
    assert viewer.get("/users/").status_code == 403
    entry = AuditEntry.objects.get(action="user.create")
    assert (entry.username, entry.params) == (admin.username, {"username": user.username, "role": "viewer"})
    # Shown once: the user's page never shows it again.
    assert password not in admin_client.get(f"/users/{user.pk}/").content.decode()


def test_created_users_role_decides_what_they_may_do(admin):
    admin_client = logged_in(admin)
    operator, password = create(admin_client, "operator", password="operator-pass-42")
    assert log_in(operator.username, password).get("/users/").status_code == 403
    second_admin, password = create(admin_client, "admin", password="admin-pass-4242")
    assert log_in(second_admin.username, password).get("/users/").status_code == 200


def test_weak_or_taken_names_and_passwords_are_refused_with_the_reason(admin):
    admin_client = logged_in(admin)
    before = get_user_model().objects.count()
    weak = admin_client.post("/users/", {"username": unique("weak"), "role": "viewer", "password": "short"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    taken = admin_client.post("/users/", {"username": admin.username.upper(), "role": "viewer", "password": ""})
    assert taken.status_code == 400 and "already exists" in taken.content.decode()
    role = admin_client.post("/users/", {"username": unique("r"), "role": "root", "password": ""})
    assert role.status_code == 400
    assert get_user_model().objects.count() == before
    assert not AuditEntry.objects.filter(action="user.create").exists()


def test_deactivated_users_token_gets_401_and_login_is_refused(admin):
    admin_client = logged_in(admin)
    user, password = create(admin_client, "viewer")
    issued = admin_client.post(f"/users/{user.pk}/tokens/", {"label": "ci"})
    assert issued.status_code == 200
    token = shown_secret(issued)
    assert token not in admin_client.get(f"/users/{user.pk}/").content.decode()
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/queues").status_code == 200
    session = log_in(user.username, password)

    response = admin_client.post(f"/users/{user.pk}/active/", {"active": "no"})
    assert response.status_code == 302

    assert api.get("/api/v1/queues").status_code == 401
    assert login_refused(user.username, password)
    assert session.get("/").status_code == 302  # the open session ended: back to the login page
    user.refresh_from_db()
    assert user.is_active is False

    assert admin_client.post(f"/users/{user.pk}/active/", {"active": "yes"}).status_code == 302
    assert api.get("/api/v1/queues").status_code == 200
    assert log_in(user.username, password).get("/").status_code == 200
    actions = list(AuditEntry.objects.filter(params__username=user.username).values_list("action", flat=True))
    assert sorted(actions) == ["token.issue", "user.create", "user.deactivate", "user.reactivate"]


def test_revoked_token_gets_401_and_the_revocation_is_audited(admin):
    admin_client = logged_in(admin)
    user, _ = create(admin_client, "operator", password="operator-pass-42")
    token = shown_secret(admin_client.post(f"/users/{user.pk}/tokens/", {"label": "deploy"}))
    row = user.api_tokens.get()
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/queues").status_code == 200

    assert admin_client.post(f"/users/{user.pk}/tokens/{row.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/queues").status_code == 401
    entry = AuditEntry.objects.get(action="token.revoke")
    assert entry.params == {"username": user.username, "hint": row.hint}
    # A token of another user is not revoked through this user's page.
    other_row = admin.api_tokens.first()
    assert admin_client.post(f"/users/{user.pk}/tokens/{other_row.pk}/revoke/").status_code == 404
    other_row.refresh_from_db()
    assert other_row.revoked_at is None


def test_admin_resets_a_password_and_the_old_one_stops_working(admin):
    admin_client = logged_in(admin)
    user, old = create(admin_client, "viewer")
    assert admin_client.post(f"/users/{user.pk}/password/", {"password": "x"}).status_code == 400
    assert log_in(user.username, old)

    assert admin_client.post(f"/users/{user.pk}/password/", {"password": "a-new-secret-77"}).status_code == 302
    assert login_refused(user.username, old)
    assert log_in(user.username, "a-new-secret-77")

    generated = admin_client.post(f"/users/{user.pk}/password/", {"password": ""})
    assert generated.status_code == 200
    assert log_in(user.username, shown_secret(generated))
    entries = AuditEntry.objects.filter(action="user.password").order_by("pk")
    assert [e.params["generated"] for e in entries] == [False, True]


def test_a_user_changes_their_own_password(admin):
    admin_client = logged_in(admin)
    user, password = create(admin_client, "viewer")
    viewer = log_in(user.username, password)
    wrong = viewer.post(
        "/account/password/", {"old_password": "nope", "new_password1": "mine-now-123", "new_password2": "mine-now-123"}
    )
    assert wrong.status_code == 400
    changed = viewer.post(
        "/account/password/",
        {"old_password": password, "new_password1": "mine-now-123", "new_password2": "mine-now-123"},
    )
    assert changed.status_code == 302
    assert viewer.get("/").status_code == 200  # this session stays
    assert login_refused(user.username, password)
    assert log_in(user.username, "mine-now-123")
    assert AuditEntry.objects.get(action="user.password").params["by"] == "self"


def test_role_change_takes_effect_and_is_audited(admin):
    admin_client = logged_in(admin)
    user, password = create(admin_client, "viewer")
    assert admin_client.post(f"/users/{user.pk}/role/", {"role": "admin"}).status_code == 302
    assert log_in(user.username, password).get("/users/").status_code == 200
    entry = AuditEntry.objects.get(action="user.role")
    assert entry.params == {"username": user.username, "from": "viewer", "to": "admin"}


def test_last_admin_cannot_demote_or_deactivate_themself(admin):
    admin_client = logged_in(admin)
    demote = admin_client.post(f"/users/{admin.pk}/role/", {"role": "viewer"})
    assert demote.status_code == 409 and "last active admin" in demote.content.decode()
    deactivate = admin_client.post(f"/users/{admin.pk}/active/", {"active": "no"})
    assert deactivate.status_code == 409
    admin.refresh_from_db()
    assert admin.is_active and admin_client.get("/users/").status_code == 200
    assert not AuditEntry.objects.filter(action__in=("user.role", "user.deactivate")).exists()

    # With a second active admin, the first may step down.
    create(admin_client, "admin", password="admin-pass-4242")
    assert admin_client.post(f"/users/{admin.pk}/role/", {"role": "operator"}).status_code == 302
    assert admin_client.get("/users/").status_code == 403


def test_a_superuser_demoted_below_admin_loses_admin(admin):
    superuser = get_user_model().objects.create_superuser(unique("root"), password="root-pass-4242")
    admin_client = logged_in(admin)
    assert admin_client.post(f"/users/{superuser.pk}/role/", {"role": "viewer"}).status_code == 302
    assert logged_in(superuser).get("/users/").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", None])
def test_non_admin_gets_403_on_every_users_route(role, admin, make_user):
    target, _ = make_user("viewer")
    token = target.api_tokens.get()
    client = logged_in(make_user(role)[0])
    base = f"/users/{target.pk}"
    calls = [
        ("get", "/users/", {}),
        ("post", "/users/", {"username": unique("sneaky"), "role": "admin", "password": "sneaky-pass-42"}),
        ("get", f"{base}/", {}),
        ("post", f"{base}/role/", {"role": "admin"}),
        ("post", f"{base}/password/", {"password": "taken-over-42"}),
        ("post", f"{base}/active/", {"active": "no"}),
        ("post", f"{base}/tokens/", {"label": "mine now"}),
        ("post", f"{base}/tokens/{token.pk}/revoke/", {}),
    ]
    users_before = get_user_model().objects.count()
    for method, path, data in calls:
        response = getattr(client, method)(path, data)
        assert response.status_code == 403, f"{method.upper()} {path} as {role}: {response.status_code}"
    target.refresh_from_db()
    token.refresh_from_db()
    assert target.is_active and target.check_password("correct-horse-9") and token.revoked_at is None
    assert target.api_tokens.count() == 1 and get_user_model().objects.count() == users_before
    assert not AuditEntry.objects.filter(action__startswith=("user.")).exists()


def test_users_link_in_the_navigation_is_for_admins_only(admin, make_user):
    assert 'href="/users/"' in logged_in(admin).get("/").content.decode()
    assert 'href="/users/"' not in logged_in(make_user("operator")[0]).get("/").content.decode()
