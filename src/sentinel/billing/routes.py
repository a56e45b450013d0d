"""Billing endpoints (filled in by the billing work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["billing"])
