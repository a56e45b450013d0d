"""API models of the auth endpoints (shapes follow Supabase Auth / GoTrue)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints

Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: EmailStr
    password: Password


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
