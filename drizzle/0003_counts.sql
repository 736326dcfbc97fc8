CREATE TABLE "maintenance_done" (
	"name" text PRIMARY KEY NOT NULL,
	"done_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_count_deltas" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"owner" text NOT NULL,
	"provider_id" text NOT NULL,
	"status" "task_status" NOT NULL,
	"tasks" bigint NOT NULL,
	"timed" bigint NOT NULL,
	"duration_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_counts" (
	"owner" text NOT NULL,
	"provider_id" text NOT NULL,
	"status" "task_status" NOT NULL,
	"tasks" bigint NOT NULL,
	"timed" bigint NOT NULL,
	"duration_ms" bigint NOT NULL,
	CONSTRAINT "task_counts_owner_provider_id_status_pk" PRIMARY KEY("owner","provider_id","status")
);
--> statement-breakpoint
CREATE INDEX "task_count_deltas_owner" ON "task_count_deltas" USING btree ("owner","provider_id","status");--> statement-breakpoint
CREATE INDEX "task_counts_provider" ON "task_counts" USING btree ("provider_id","status","owner");--> statement-breakpoint
-- The new indexes on tasks (tasks_owner_status_created, tasks_owner_provider_created,
-- tasks_owner_model_created, tasks_prompt_trgm) are not built here: a migration runs in
-- one transaction and CREATE INDEX would block writes to tasks for the whole build.
-- src/db/online-indexes.ts builds them CONCURRENTLY after the migrations.
--
-- Counters: every change to tasks appends task_count_deltas rows (inserts and deletes
-- per statement, through transition tables; updates per row, only when the counted
-- values change). src/db/task-counts.ts rolls them up into task_counts and back-fills
-- rows that existed before this migration.
CREATE FUNCTION task_duration_ms(status task_status, created_at timestamptz, started_at timestamptz, completed_at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN status = 'COMPLETED' THEN round(extract(epoch FROM completed_at - coalesce(started_at, created_at)) * 1000)::bigint END $$;--> statement-breakpoint
CREATE FUNCTION task_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_count_deltas (owner, provider_id, status, tasks, timed, duration_ms)
  SELECT n.owner, n.provider_id, n.status, count(*), count(d.ms), coalesce(sum(d.ms), 0)
  FROM new_rows n CROSS JOIN LATERAL (SELECT task_duration_ms(n.status, n.created_at, n.started_at, n.completed_at) AS ms) d
  GROUP BY n.owner, n.provider_id, n.status;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION task_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_count_deltas (owner, provider_id, status, tasks, timed, duration_ms)
  SELECT o.owner, o.provider_id, o.status, -count(*), -count(d.ms), -coalesce(sum(d.ms), 0)
  FROM old_rows o CROSS JOIN LATERAL (SELECT task_duration_ms(o.status, o.created_at, o.started_at, o.completed_at) AS ms) d
  GROUP BY o.owner, o.provider_id, o.status;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION task_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_ms bigint := task_duration_ms(OLD.status, OLD.created_at, OLD.started_at, OLD.completed_at);
  new_ms bigint := task_duration_ms(NEW.status, NEW.created_at, NEW.started_at, NEW.completed_at);
BEGIN
  INSERT INTO task_count_deltas (owner, provider_id, status, tasks, timed, duration_ms) VALUES
    (OLD.owner, OLD.provider_id, OLD.status, -1, -(old_ms IS NOT NULL)::int, -coalesce(old_ms, 0)),
    (NEW.owner, NEW.provider_id, NEW.status, 1, (new_ms IS NOT NULL)::int, coalesce(new_ms, 0));
  RETURN NULL;
END $$;--> statement-breakpoint
-- TRUNCATE fires no delete trigger: empty the counters too (under the roll-up's lock,
-- so that a roll-up in flight cannot put rows back).
CREATE FUNCTION task_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(7270004);
  DELETE FROM task_count_deltas;
  DELETE FROM task_counts;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tasks_counts_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_inserted();--> statement-breakpoint
CREATE TRIGGER tasks_counts_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_deleted();--> statement-breakpoint
CREATE TRIGGER tasks_counts_update AFTER UPDATE OF status, owner, provider_id, created_at, started_at, completed_at ON tasks
  FOR EACH ROW WHEN (
    (OLD.owner, OLD.provider_id, OLD.status, task_duration_ms(OLD.status, OLD.created_at, OLD.started_at, OLD.completed_at))
    IS DISTINCT FROM (NEW.owner, NEW.provider_id, NEW.status, task_duration_ms(NEW.status, NEW.created_at, NEW.started_at, NEW.completed_at))
  ) EXECUTE FUNCTION task_counts_updated();--> statement-breakpoint
CREATE TRIGGER tasks_counts_truncate AFTER TRUNCATE ON tasks FOR EACH STATEMENT EXECUTE FUNCTION task_counts_truncated();
