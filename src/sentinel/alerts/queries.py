"""All SQL of alerts; runs inside a tenant transaction (unqualified names)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

RULE_COLUMNS = """id, name, kind, metric, operator, threshold, duration_s, scope_type, scope_id,
    severity, respect_school_hours, channel_ids, enabled, created_at, updated_at"""
ALERT_COLUMNS = """a.id, a.rule_id, a.device_id, a.state, a.severity, a.title, a.value, a.since,
    a.opened_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.notified"""
CHANNEL_COLUMNS = "id, name, kind, config, rate_per_minute, enabled, created_at"

# --- rules ---------------------------------------------------------------------------------


async def rules(conn: asyncpg.Connection, enabled_only: bool = False) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE ($1 = false OR enabled) ORDER BY name",
        enabled_only,
    )
    return rows


async def rule(conn: asyncpg.Connection, rule_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1", rule_id
    )
    return row


async def insert_rule(conn: asyncpg.Connection, rule_id: UUID, fields: dict[str, Any]) -> Record:
    names = ", ".join(fields)
    params = ", ".join(f"${i + 2}" for i in range(len(fields)))
    row: Record = await conn.fetchrow(
        f"INSERT INTO alert_rules (id, {names}) VALUES ($1, {params}) RETURNING {RULE_COLUMNS}",
        rule_id,
        *fields.values(),
    )
    return row


async def update_rule(
    conn: asyncpg.Connection, rule_id: UUID, fields: dict[str, Any]
) -> Record | None:
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(fields))
    row: Record | None = await conn.fetchrow(
        f"UPDATE alert_rules SET {assignments}, updated_at = now() WHERE id = $1 "
        f"RETURNING {RULE_COLUMNS}",
        rule_id,
        *fields.values(),
    )
    return row


async def delete_rule(conn: asyncpg.Connection, rule_id: UUID) -> bool:
    status: str = await conn.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    return status.endswith(" 1")


# --- evaluation ------------------------------------------------------------------------------


async def scope_devices(
    conn: asyncpg.Connection, scope_type: str, scope_id: UUID | None
) -> list[UUID]:
    """Active devices a rule covers (a group includes its subgroups)."""
    rows = await conn.fetch(
        """WITH RECURSIVE tree AS (
               SELECT id FROM device_groups WHERE $1 = 'group' AND id = $2
               UNION SELECT g.id FROM device_groups g JOIN tree t ON g.parent_id = t.id)
           SELECT id FROM devices WHERE status = 'active' AND (
               $1 = 'org' OR ($1 = 'device' AND id = $2)
               OR ($1 = 'group' AND group_id IN (SELECT id FROM tree)))""",
        scope_type,
        scope_id,
    )
    return [row["id"] for row in rows]


_SAMPLE = """SELECT device_id, ts, battery_pct, charging, extra, cpu_pct, load1, mem_pct,
    swap_pct, disk_pct, disk_read_bps, disk_write_bps, net_rx_bps, net_tx_bps, temp_c"""


async def bad_runs(
    conn: asyncpg.Connection,
    condition: str,
    present: str,
    devices: list[UUID],
    lookback_s: float,
    now: datetime,
    threshold: float | None,
) -> dict[UUID, Record]:
    """Per device, the run of latest samples that meet `condition`: when it started, its last
    sample and value. A device whose latest relevant sample is fine has no run.

    `condition` and `present` are SQL fragments from a fixed table in `evaluate.py`; `$T` in
    them stands for the rule's threshold.
    """
    rows = await conn.fetch(
        f"""WITH recent AS (
                SELECT device_id, ts, ({condition.replace("$T", "$4::float8")}) AS bad, value
                FROM ({_SAMPLE}, ({present}) AS value, $4::float8 AS threshold FROM telemetry
                      WHERE device_id = ANY($1) AND ts > $2::timestamptz - make_interval(secs => $3)
                        AND ts <= $2::timestamptz) s
                WHERE value IS NOT NULL),
            last_good AS (SELECT device_id, max(ts) AS t FROM recent WHERE NOT bad
                          GROUP BY device_id)
            SELECT r.device_id, min(r.ts) AS since, max(r.ts) AS latest,
                   (array_agg(r.value ORDER BY r.ts DESC))[1] AS value
            FROM recent r LEFT JOIN last_good g USING (device_id)
            WHERE r.bad AND (g.t IS NULL OR r.ts > g.t)
            GROUP BY r.device_id""",
        devices,
        now,
        float(lookback_s),
        threshold,
    )
    return {row["device_id"]: row for row in rows}


async def recovered(
    conn: asyncpg.Connection,
    device_id: UUID,
    condition: str,
    present: str,
    after: datetime,
    threshold: float | None,
) -> bool:
    """Whether a sample after `after` shows the condition cleared."""
    value = await conn.fetchval(
        f"""SELECT 1 FROM ({_SAMPLE}, ({present}) AS value, $3::float8 AS threshold
                          FROM telemetry WHERE device_id = $1 AND ts > $2) s
            WHERE value IS NOT NULL AND NOT ({condition.replace("$T", "$3::float8")}) LIMIT 1""",
        device_id,
        after,
        threshold,
    )
    return bool(value)


async def offline_devices(
    conn: asyncpg.Connection, devices: list[UUID], offline_s: float, now: datetime
) -> dict[UUID, Record]:
    rows = await conn.fetch(
        """SELECT id AS device_id, last_seen_at AS since FROM devices
           WHERE id = ANY($1) AND NOT online AND last_seen_at IS NOT NULL
             AND last_seen_at <= $2::timestamptz - make_interval(secs => $3)""",
        devices,
        now,
        float(offline_s),
    )
    return {row["device_id"]: row for row in rows}


async def online_devices(conn: asyncpg.Connection, devices: list[UUID]) -> set[UUID]:
    rows = await conn.fetch("SELECT id FROM devices WHERE id = ANY($1) AND online", devices)
    return {row["id"] for row in rows}


async def enrolled_since(
    conn: asyncpg.Connection, devices: list[UUID], since: datetime
) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        "SELECT id, name, enrolled_at FROM devices WHERE id = ANY($1) AND enrolled_at > $2",
        devices,
        since,
    )
    return rows


async def active_alerts(conn: asyncpg.Connection, rule_id: UUID) -> dict[UUID, Record]:
    rows = await conn.fetch(
        f"""SELECT {ALERT_COLUMNS} FROM alerts a
            WHERE a.rule_id = $1 AND a.state IN ('pending', 'open', 'acknowledged')""",
        rule_id,
    )
    return {row["device_id"]: row for row in rows}


async def insert_alert(
    conn: asyncpg.Connection,
    alert_id: UUID,
    rule_id: UUID,
    device_id: UUID,
    state: str,
    severity: str,
    title: str,
    value: float | None,
    since: datetime,
    now: datetime,
) -> bool:
    """Whether it was inserted (an active alert of the rule and device may already exist)."""
    status: str = await conn.execute(
        """INSERT INTO alerts (id, rule_id, device_id, state, severity, title, value, since,
                               opened_at, resolved_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                   CASE WHEN $4 <> 'pending' THEN $9::timestamptz END,
                   CASE WHEN $4 = 'resolved' THEN $9::timestamptz END)
           ON CONFLICT DO NOTHING""",
        alert_id,
        rule_id,
        device_id,
        state,
        severity,
        title,
        value,
        since,
        now,
    )
    return status.endswith(" 1")


async def insert_alerts(
    conn: asyncpg.Connection,
    rule_id: UUID,
    state: str,
    severity: str,
    title: str,
    rows: Sequence[tuple[UUID, datetime, float | None]],
    now: datetime,
) -> list[UUID]:
    """One alert per (device id, since, value) row in one statement; the ids inserted (a device
    whose alert of this rule is already active is skipped)."""
    if not rows:
        return []
    inserted = await conn.fetch(
        """INSERT INTO alerts (id, rule_id, device_id, state, severity, title, value, since,
                               opened_at, resolved_at)
           SELECT gen_random_uuid(), $1, t.device_id, $2, $3, $4, t.value, t.since,
                  CASE WHEN $2 <> 'pending' THEN $5::timestamptz END,
                  CASE WHEN $2 = 'resolved' THEN $5::timestamptz END
           FROM unnest($6::uuid[], $7::timestamptz[], $8::float8[]) AS t(device_id, since, value)
           ON CONFLICT DO NOTHING RETURNING id""",
        rule_id,
        state,
        severity,
        title,
        now,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    return [row["id"] for row in inserted]


async def open_pending(
    conn: asyncpg.Connection, alert_id: UUID, value: float | None, since: datetime, now: datetime
) -> bool:
    """Open a pending alert (its condition has held since `since`); whether it was pending."""
    status: str = await conn.execute(
        "UPDATE alerts SET state = 'open', opened_at = $3, value = $2, since = $4 WHERE id = $1 "
        "AND state = 'pending'",
        alert_id,
        value,
        now,
        since,
    )
    return status.endswith(" 1")


async def update_value(conn: asyncpg.Connection, alert_id: UUID, value: float | None) -> None:
    await conn.execute("UPDATE alerts SET value = $2 WHERE id = $1", alert_id, value)


async def drop_pending(conn: asyncpg.Connection, alert_id: UUID) -> None:
    await conn.execute("DELETE FROM alerts WHERE id = $1 AND state = 'pending'", alert_id)


async def resolve(
    conn: asyncpg.Connection, alert_id: UUID, by: str | None, now: datetime
) -> Record | None:
    row: Record | None = await conn.fetchrow(
        f"""UPDATE alerts a SET state = 'resolved', resolved_at = $3, resolved_by = $2
            WHERE a.id = $1 AND a.state IN ('open', 'acknowledged') RETURNING {ALERT_COLUMNS}""",
        alert_id,
        by,
        now,
    )
    return row


async def resolve_many(
    conn: asyncpg.Connection, alert_ids: list[UUID], now: datetime
) -> list[Record]:
    """Resolve (by the engine) those of the alerts that are open or acknowledged."""
    if not alert_ids:
        return []
    rows: list[Record] = await conn.fetch(
        f"""UPDATE alerts a SET state = 'resolved', resolved_at = $2, resolved_by = NULL
            WHERE a.id = ANY($1) AND a.state IN ('open', 'acknowledged')
            RETURNING {ALERT_COLUMNS}""",
        alert_ids,
        now,
    )
    return rows


async def acknowledge(conn: asyncpg.Connection, alert_id: UUID, by: str) -> Record | None:
    row: Record | None = await conn.fetchrow(
        f"""UPDATE alerts a SET state = 'acknowledged', acknowledged_at = now(),
                acknowledged_by = $2
            WHERE a.id = $1 AND a.state = 'open' RETURNING {ALERT_COLUMNS}""",
        alert_id,
        by,
    )
    return row


async def alert(conn: asyncpg.Connection, alert_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = $1 AND a.state <> 'pending'", alert_id
    )
    return row


async def list_alerts(
    conn: asyncpg.Connection,
    *,
    states: list[str],
    device_id: UUID | None,
    rule_id: UUID | None,
    before: datetime | None,
    limit: int,
) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        f"""SELECT {ALERT_COLUMNS}, d.name AS device_name FROM alerts a
            JOIN devices d ON d.id = a.device_id
            WHERE a.state = ANY($1) AND ($2::uuid IS NULL OR a.device_id = $2)
              AND ($3::uuid IS NULL OR a.rule_id = $3)
              AND ($4::timestamptz IS NULL OR a.opened_at < $4)
            ORDER BY a.opened_at DESC, a.id LIMIT $5""",
        states,
        device_id,
        rule_id,
        before,
        limit,
    )
    return rows


async def mark_notified(conn: asyncpg.Connection, alert_ids: list[UUID]) -> None:
    if alert_ids:
        await conn.execute("UPDATE alerts SET notified = true WHERE id = ANY($1)", alert_ids)


# --- channels and notifications --------------------------------------------------------------


async def channels(conn: asyncpg.Connection, enabled_only: bool = False) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        f"SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE ($1 = false OR enabled) "
        "ORDER BY name",
        enabled_only,
    )
    return rows


async def channel(conn: asyncpg.Connection, channel_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        f"SELECT {CHANNEL_COLUMNS}, secret FROM notification_channels WHERE id = $1", channel_id
    )
    return row


async def insert_channel(
    conn: asyncpg.Connection,
    channel_id: UUID,
    name: str,
    kind: str,
    config: dict[str, Any],
    secret: str | None,
    rate: int,
) -> Record:
    row: Record = await conn.fetchrow(
        f"""INSERT INTO notification_channels (id, name, kind, config, secret, rate_per_minute)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CHANNEL_COLUMNS}""",
        channel_id,
        name,
        kind,
        config,
        secret,
        rate,
    )
    return row


async def update_channel(
    conn: asyncpg.Connection, channel_id: UUID, fields: dict[str, Any]
) -> Record | None:
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(fields))
    row: Record | None = await conn.fetchrow(
        f"UPDATE notification_channels SET {assignments} WHERE id = $1 RETURNING {CHANNEL_COLUMNS}",
        channel_id,
        *fields.values(),
    )
    return row


async def delete_channel(conn: asyncpg.Connection, channel_id: UUID) -> bool:
    status: str = await conn.execute("DELETE FROM notification_channels WHERE id = $1", channel_id)
    return status.endswith(" 1")


async def enqueue(
    conn: asyncpg.Connection,
    channel_id: UUID,
    kind: str,
    alert_id: UUID | None,
    payload: dict[str, Any],
) -> int:
    notification_id: int = await conn.fetchval(
        """INSERT INTO notifications (channel_id, kind, alert_id, payload)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        channel_id,
        kind,
        alert_id,
        payload,
    )
    return notification_id


async def enqueue_many(
    conn: asyncpg.Connection, rows: list[tuple[UUID, str, UUID, dict[str, Any]]]
) -> None:
    """(channel id, kind, alert id, payload) rows, as one pipelined statement."""
    if rows:
        await conn.executemany(
            "INSERT INTO notifications (channel_id, kind, alert_id, payload) VALUES ($1, $2, $3, $4)",
            rows,
        )


async def due_notifications(conn: asyncpg.Connection, channel_id: UUID, limit: int) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT id, kind, alert_id, payload, attempts FROM notifications
           WHERE channel_id = $1 AND status = 'pending' AND next_attempt_at <= now()
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        channel_id,
        limit,
    )
    return rows


async def lease(conn: asyncpg.Connection, ids: list[int], seconds: float) -> None:
    """Claim notifications being sent: not due again until `seconds` from now."""
    await conn.execute(
        """UPDATE notifications SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
           WHERE id = ANY($1)""",
        ids,
        float(seconds),
    )


async def release(conn: asyncpg.Connection, ids: list[int]) -> None:
    """Give claimed notifications back, due now (those still waiting to be sent)."""
    if ids:
        await conn.execute(
            """UPDATE notifications SET next_attempt_at = clock_timestamp()
               WHERE id = ANY($1) AND status = 'pending'""",
            ids,
        )


async def sent_last_minute(conn: asyncpg.Connection, channel_id: UUID) -> int:
    count: int = await conn.fetchval(
        """SELECT count(DISTINCT coalesce(digest_id, id)) FROM notifications
           WHERE channel_id = $1 AND status IN ('sent', 'digested')
             AND sent_at > now() - interval '1 minute'""",
        channel_id,
    )
    return count


async def mark_delivered(conn: asyncpg.Connection, ids: list[int], digest_id: int | None) -> None:
    await conn.execute(
        """UPDATE notifications SET status = CASE WHEN $2::bigint IS NULL THEN 'sent'
                                                  ELSE 'digested' END,
               sent_at = now(), attempts = attempts + 1, digest_id = $2, last_error = NULL
           WHERE id = ANY($1)""",
        ids,
        digest_id,
    )


async def mark_attempt_failed(
    conn: asyncpg.Connection, ids: list[int], error: str, max_attempts: int
) -> None:
    """Back off 2^attempts seconds from when the attempt failed (not from when the transaction
    began: a receiver that timed out must not be retried at once)."""
    await conn.execute(
        """UPDATE notifications SET attempts = attempts + 1, last_error = $2,
               status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END,
               next_attempt_at = clock_timestamp() + make_interval(secs => power(2, attempts + 1))
           WHERE id = ANY($1)""",
        ids,
        error[:500],
        max_attempts,
    )


async def deliveries(conn: asyncpg.Connection, channel_id: UUID, limit: int) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT id, kind, alert_id, status, attempts, last_error, created_at, sent_at, digest_id
           FROM notifications WHERE channel_id = $1 ORDER BY id DESC LIMIT $2""",
        channel_id,
        limit,
    )
    return rows


async def alerts_with_devices(
    conn: asyncpg.Connection, alert_ids: list[UUID]
) -> dict[UUID, Record]:
    rows = await conn.fetch(
        f"""SELECT {ALERT_COLUMNS}, d.name AS device_name FROM alerts a
            JOIN devices d ON d.id = a.device_id WHERE a.id = ANY($1)""",
        alert_ids,
    )
    return {row["id"]: row for row in rows}


async def get_setting(conn: asyncpg.Connection, key: str) -> Any:
    return await conn.fetchval("SELECT value FROM settings WHERE key = $1", key)


async def put_setting(conn: asyncpg.Connection, key: str, value: Any) -> None:
    await conn.execute(
        """INSERT INTO settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        key,
        value,
    )


NOTIFY_CHANNEL = "sentinel_notifications"


async def lock_evaluation(conn: asyncpg.Connection, org_id: UUID) -> None:
    """Serialize evaluations of one organization (until the transaction ends), so that two
    evaluators — a second worker, a direct call — never both open or notify the same alert."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"alerts:{org_id}")


async def wake_dispatcher(conn: asyncpg.Connection, org_id: UUID) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(org_id))
