-- The server's clock: the bench's events end here.
SELECT toUInt32(now()) AS now
