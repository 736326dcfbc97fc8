-- The indexes for estimated time left (tasks_completed_runs, tasks_running) are not built
-- here: a migration runs in one transaction, where CREATE INDEX would lock writes to tasks
-- for the whole build. src/db/online-indexes.ts builds them CONCURRENTLY after the migrations.
-- (This migration only records them in drizzle's snapshot.)
SELECT 1;
