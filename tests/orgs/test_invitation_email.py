"""Invitations are e-mailed through the deployment's SMTP server (the same sender as alert
e-mails) with the one-time accept link; without SMTP the link goes back to the inviter only."""

from __future__ import annotations

import httpx

from sentinel.api.app import create_app
from sentinel.stack.launcher import Stack
from tests.alerts.support import smtp_server
from tests.people import create_org, signup, unique_email


async def test_invitation_is_emailed_with_its_accept_link(
    stack: Stack, https: httpx.Client
) -> None:
    owner = signup(https)
    org = create_org(https, owner, name="Riverside Primary")
    invitee = unique_email("teacher")
    with smtp_server() as smtp:
        app = create_app(smtp.settings(stack.settings))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                response = await client.post(
                    f"/api/v1/orgs/{org['id']}/invitations",
                    json={"email": invitee, "role": "admin"},
                    headers=owner.headers,
                )
        mails = smtp.received()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["emailed"] is True
    assert len(mails) == 1
    mail = mails[0]
    assert mail.rcpt_tos == [invitee]
    assert "Riverside Primary" in str(mail.message["Subject"])
    content = mail.message.get_content()
    assert body["accept_url"] in content and "admin" in content


def test_without_smtp_the_link_goes_to_the_inviter_only(https: httpx.Client) -> None:
    owner = signup(https)
    org = create_org(https, owner)
    response = https.post(
        f"/api/v1/orgs/{org['id']}/invitations",
        json={"email": unique_email(), "role": "readonly"},
        headers=owner.headers,
    )
    assert response.status_code == 201
    assert response.json()["emailed"] is False
    assert response.json()["accept_url"].endswith(response.json()["token"])
