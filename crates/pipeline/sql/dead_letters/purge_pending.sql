-- Mutations of dead_letter not finished yet.
SELECT toUInt64(count()) AS pending
FROM system.mutations
WHERE database = {{db:string}} AND table = 'dead_letter' AND is_done = 0
