-- An organization being moved to another shard: writes to it wait until the move is done.
ALTER TABLE control.organizations ADD COLUMN moving boolean NOT NULL DEFAULT false;
