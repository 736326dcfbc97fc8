ALTER TABLE "tasks" ADD COLUMN "version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "change_xid" bigint DEFAULT (pg_current_xact_id()::text::bigint) NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "submitted_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "tasks_owner_changed" ON "tasks" USING btree ("owner","change_xid","id");