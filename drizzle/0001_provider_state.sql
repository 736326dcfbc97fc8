CREATE TABLE "provider_health" (
	"provider_id" text PRIMARY KEY NOT NULL,
	"healthy" boolean NOT NULL,
	"message" text,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"checked_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "provider_limits" (
	"provider_id" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "tried_providers" text[] DEFAULT '{}'::text[] NOT NULL;