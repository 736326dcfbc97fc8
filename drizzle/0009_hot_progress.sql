-- Progress writes as HOT updates (issue 8, many jobs in flight): tasks_due (status, next_poll_at) is
-- replaced by tasks_active (status, provider_id), which no progress write changes. Both index steps
-- run online after the migrations (src/db/online-indexes.ts: tasks_active built CONCURRENTLY, then
-- tasks_due dropped CONCURRENTLY), not here, where they would lock writes to tasks.
-- fillfactor 85 leaves room on each page for the next version of its rows (a HOT update must fit on
-- the row's own page); it changes only how new pages are filled, takes a lock that blocks no read
-- or write, and rewrites nothing.
ALTER TABLE "tasks" SET (fillfactor = 85);
