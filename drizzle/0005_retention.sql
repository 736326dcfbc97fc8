CREATE TABLE "removed_task_counts" (
	"owner" text NOT NULL,
	"provider_id" text NOT NULL,
	"status" "task_status" NOT NULL,
	"tasks" bigint NOT NULL,
	"timed" bigint NOT NULL,
	"duration_ms" bigint NOT NULL,
	CONSTRAINT "removed_task_counts_owner_provider_id_status_pk" PRIMARY KEY("owner","provider_id","status")
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "file_expired_at" timestamp (3) with time zone;
-- The retention indexes on tasks (tasks_finished_completed, tasks_files_completed) are not
-- built here: src/db/online-indexes.ts builds them CONCURRENTLY after the migrations.
-- file_expired_at is nullable without a default: adding it rewrites nothing.
