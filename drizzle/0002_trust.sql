CREATE TABLE "idempotency_keys" (
	"owner" text NOT NULL,
	"key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"task_id" uuid NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "idempotency_keys_owner_key_pk" PRIMARY KEY("owner","key")
);
--> statement-breakpoint
CREATE TABLE "recent_creates" (
	"owner" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "tasks_owner_idempotency_key";--> statement-breakpoint
DROP INDEX "tasks_queue";--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "max_active_tasks" integer;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "creates_per_minute" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "change_xid" bigint DEFAULT (pg_current_xact_id()::text::bigint) NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "submitted_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idempotency_keys_task" ON "idempotency_keys" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "recent_creates_owner" ON "recent_creates" USING btree ("owner","created_at");--> statement-breakpoint
CREATE INDEX "tasks_owner_changed" ON "tasks" USING btree ("owner","change_xid","id");--> statement-breakpoint
CREATE INDEX "tasks_owner_active" ON "tasks" USING btree ("owner","status") WHERE status in ('QUEUED', 'PROCESSING');--> statement-breakpoint
CREATE INDEX "tasks_queue_owner" ON "tasks" USING btree ("provider_id","owner","created_at","id") WHERE status = 'QUEUED';--> statement-breakpoint
CREATE INDEX "tasks_owner_started" ON "tasks" USING btree ("provider_id","owner","started_at");