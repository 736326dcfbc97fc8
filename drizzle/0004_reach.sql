-- Reach (issue 9): retryTask (tasks.retry_of), key rotation (several keys per name), expiry and operator keys.
-- Safe on a running deployment: the new columns are nullable or have a constant default (no table rewrite);
-- api_keys is small, so its index is built here.
ALTER TABLE "api_keys" DROP CONSTRAINT "api_keys_name_unique";--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "expires_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "admin" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "retry_of" uuid;--> statement-breakpoint
CREATE INDEX "api_keys_name" ON "api_keys" USING btree ("name");