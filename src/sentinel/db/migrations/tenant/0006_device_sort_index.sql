-- The device list's "last seen" sort orders by this expression; index it so large fleets
-- page without sorting the whole table.
CREATE INDEX devices_last_seen_sort ON devices (coalesce(last_seen_at, 'epoch'::timestamptz), id);
